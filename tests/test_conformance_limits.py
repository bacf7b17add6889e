"""Conformance, part 3: concurrency limits (counted on the server), no head-of-line blocking,
TLS and IPv6 — on every engine."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from fetchrun import fetch

from fetchall.engines import ENGINES
from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(60)


def test_per_host_limit_holds(engine: str, server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{100 + i}?latency=0.15") for i in range(8)]
    run = fetch(engine, urls, tmp_path, concurrency=10, per_host=3)
    assert all(r.ok for r in run.results)
    assert server.stats.max_active <= 3
    if ENGINES[engine].concurrent:
        assert server.stats.max_active > 1, "a concurrent engine must overlap requests"
    else:
        assert server.stats.max_active == 1


def test_global_limit_holds_across_hosts(engine: str, server: ServerThread, tmp_path: Path) -> None:
    hosts = ["127.0.0.1", "localhost"]
    urls = [f"http://{hosts[i % 2]}:{server.port}/bytes/{200 + i}?latency=0.15" for i in range(8)]
    run = fetch(engine, urls, tmp_path, concurrency=3, per_host=3)
    assert all(r.ok for r in run.results)
    assert server.stats.max_active <= 3


def test_busy_host_does_not_block_others(engine: str, server: ServerThread, tmp_path: Path) -> None:
    slow = [server.url(f"/bytes/{300 + i}?latency=0.3") for i in range(4)]
    fast = f"http://localhost:{server.port}/bytes/10"
    run = fetch(engine, [*slow, fast], tmp_path, concurrency=10, per_host=1)
    order = [r.url for r in run.results]
    # the frontier hands URLs out round robin over hosts: even a sequential engine takes the
    # other host's URL before the busy host's last one
    assert order.index(fast) < order.index(slow[-1]), order
    listed = fetch(engine, [*slow, fast], tmp_path / "listed", per_host=1, use_state=False)
    order = [r.url for r in listed.results]
    if ENGINES[engine].concurrent:
        assert order.index(fast) < order.index(slow[-1]), order
    else:  # --no-state, sequential: input order, nothing overlaps, so nothing can block
        assert order == [*slow, fast]


def test_https_verified_by_default(engine: str, tls_server: ServerThread, tmp_path: Path) -> None:
    result = fetch(engine, [tls_server.url("/bytes/100")], tmp_path).one()
    assert result.error_type == "tls" and "verif" in str(result.error).lower(), result


def test_https_with_cacert(
    engine: str, tls_server: ServerThread, ca_file: Path, tmp_path: Path
) -> None:
    run = fetch(engine, [tls_server.url("/bytes/20000?encoding=gzip")], tmp_path, cacert=ca_file)
    assert run.saved(run.one()) == body_bytes(20000)


def test_https_large_plain_bodies_arrive_intact(
    engine: str, tls_server: ServerThread, ca_file: Path, tmp_path: Path
) -> None:
    """Plain bodies of many TLS records and reads (keepalive passes them on as views of its
    one read buffer), several at once on one host."""
    sizes = [700_001, 300_007, 1_000_003]
    urls = [tls_server.url(f"/bytes/{n}") for n in sizes]
    run = fetch(engine, urls, tmp_path, cacert=ca_file, concurrency=3, per_host=3)
    for url, n in zip(urls, sizes, strict=True):
        assert run.saved(run.by_url(url)) == body_bytes(n), url


@pytest.fixture(scope="module")
def wrong_name_server(tls_ca: trustme.CA) -> Iterator[ServerThread]:
    """An HTTPS server whose (trusted) certificate names another host."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("wrong.example").configure_cert(context)
    with ServerThread(ssl_context=context) as server:
        yield server


def test_https_hostname_mismatch_refused(
    engine: str, wrong_name_server: ServerThread, ca_file: Path, tmp_path: Path
) -> None:
    result = fetch(engine, [wrong_name_server.url("/bytes/10")], tmp_path, cacert=ca_file).one()
    assert result.error_type == "tls" and "127.0.0.1" in str(result.error), result


def test_https_insecure(engine: str, tls_server: ServerThread, tmp_path: Path) -> None:
    result = fetch(engine, [tls_server.url("/bytes/100")], tmp_path, insecure=True).one()
    assert result.ok, result


def test_ipv6_literal(engine: str, builtin_server_v6: ServerThread, tmp_path: Path) -> None:
    url = builtin_server_v6.url("/bytes/1234")
    assert url.startswith("http://[::1]:")
    run = fetch(engine, [url], tmp_path)
    assert run.saved(run.one()) == body_bytes(1234)
