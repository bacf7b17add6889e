"""The ``keepalive`` engine's spliced bodies (`fetchall.engines.splicing`): a large plain body
goes from the socket to the file inside the kernel, and must give exactly what the read-buffer
path gives — the same bytes, the same verdict and error message on a body cut short, reset or
stalled, the same reuse of the connection — while bodies that something must see (TLS, a
digest) never take it.

Each case runs both ways in one test: splicing on, and off (``FETCHALL_NO_SPLICE=1``). Calls
of `os.splice` are counted, so a case that should splice and did not fails too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fetchrun import Run, fetch
from rawserver import RawConn, RawServer

from fetchall.engines.splicing import SPLICE_AT
from fetchall.server import ServerThread, body_bytes

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "splice"), reason="os.splice is Linux-only"),
]

ENGINE = "keepalive"
BIG = 3 * SPLICE_AT + 12_345  # several splices, and a read's worth more than the threshold


@pytest.fixture
def splices(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every `os.splice` call's byte count, in this process."""
    calls: list[int] = []
    real = os.splice

    def counting(*args: Any, **kwargs: Any) -> int:
        moved = real(*args, **kwargs)
        calls.append(moved)
        return moved

    monkeypatch.setattr(os, "splice", counting)
    yield calls


def both_ways(
    monkeypatch: pytest.MonkeyPatch, splices: list[int], tmp_path: Path, run: Callable[[Path], Run]
) -> tuple[Run, Run]:
    """``run`` with splicing on, then off; the splice calls of the second run must be none."""
    spliced = run(tmp_path / "spliced")
    used = len(splices)
    with monkeypatch.context() as m:
        m.setenv("FETCHALL_NO_SPLICE", "1")
        plain = run(tmp_path / "plain")
    assert len(splices) == used, "FETCHALL_NO_SPLICE=1 still spliced"
    return spliced, plain


def one_url_both_ways(
    raw_server: RawServer,
    script: Callable[[RawConn], None],
    monkeypatch: pytest.MonkeyPatch,
    splices: list[int],
    tmp_path: Path,
    **settings: Any,
) -> tuple[Run, Run]:
    """`both_ways` for one URL that ``script`` answers on the raw server."""
    raw_server.route("/one", script)
    url = raw_server.url("/one")
    return both_ways(
        monkeypatch, splices, tmp_path, lambda out: fetch(ENGINE, [url], out, **settings)
    )


def verdicts(run: Run) -> list[tuple[object, ...]]:
    """Every row's verdict, by URL (rows come in the order URLs end)."""
    rows = [(r.url, r.ok, r.status, r.error_type, r.error, r.bytes) for r in run.results]
    return sorted(rows, key=repr)


def test_large_bodies_arrive_byte_for_byte(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, splices: list[int]
) -> None:
    sizes = [BIG, SPLICE_AT * 2, 5_000, BIG + 1, 2 * 1024 * 1024]
    urls = [server.url(f"/bytes/{n}") for n in sizes]
    spliced, plain = both_ways(
        monkeypatch, splices, tmp_path, lambda out: fetch(ENGINE, urls, out, concurrency=3)
    )
    assert splices, "no body was spliced"
    assert verdicts(spliced) == verdicts(plain)
    for run in (spliced, plain):
        for url, n in zip(urls, sizes, strict=True):
            assert run.saved(run.by_url(url)) == body_bytes(n)


def _big_then_small(conn: RawConn) -> None:
    """On one connection: a large response, then a small one to every later request."""
    body = os.urandom(BIG)
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG + body)
    while conn.read_head().endswith(b"\r\n\r\n"):  # bounded: ends when the client closes
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_the_connection_is_reused_after_a_spliced_body(
    raw_server: RawServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, splices: list[int]
) -> None:
    raw_server.route("/big", _big_then_small)

    def run(out: Path) -> Run:
        raw_server.reset_stats()
        urls = [raw_server.url("/big")] + [raw_server.url(f"/big?{i}") for i in range(3)]
        result = fetch(ENGINE, urls, out, concurrency=1)
        assert raw_server.connections == 1  # the body's end was found without reading on
        return result

    spliced, plain = both_ways(monkeypatch, splices, tmp_path, run)
    assert splices
    assert verdicts(spliced) == verdicts(plain)
    assert all(r.ok for r in spliced.results)
    assert [r.bytes for r in spliced.results] == [BIG, 2, 2, 2]


def test_a_pipelined_response_behind_a_spliced_body_stays_for_the_transport(
    raw_server: RawServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, splices: list[int]
) -> None:
    """The large body and the next response arrive in one send: the splice takes the body's
    bytes only, and the next response is read as usual."""
    big = os.urandom(BIG)

    def script(conn: RawConn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")  # the warm-up
        conn.read_heads(2)
        conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG
            + big
            + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"
        )
        conn.read_head()  # bounded: returns when the client closes

    raw_server.route("*", script)

    def run(out: Path) -> Run:
        first = fetch(ENGINE, [raw_server.url("/warm")], out, concurrency=1)
        assert first.one().ok
        urls = [raw_server.url("/warm"), raw_server.url("/big"), raw_server.url("/next")]
        return fetch(ENGINE, urls, out, concurrency=2, per_host=2, pipeline=2)

    spliced, plain = both_ways(monkeypatch, splices, tmp_path, run)
    assert verdicts(spliced) == verdicts(plain)
    for result in (spliced, plain):
        assert result.saved(result.by_url(raw_server.url("/big"))) == big
        assert result.saved(result.by_url(raw_server.url("/next"))) == b"after"


@pytest.mark.parametrize("ending", ["close", "reset", "stall"])
def test_a_body_cut_short_fails_alike(
    raw_server: RawServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    splices: list[int],
    ending: str,
) -> None:
    """A large body that ends early — closed, reset, or stalled past --timeout — gives the same
    row both ways (the parser's own "body shorter" message on EOF) and leaves no file."""

    def script(conn: RawConn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
        conn.send(os.urandom(BIG // 2))
        if ending == "reset":
            conn.sleep(0.2)  # let the client start splicing first
            conn.reset()
        elif ending == "stall":
            conn.hang(10)
        else:
            conn.close()

    spliced, plain = one_url_both_ways(
        raw_server, script, monkeypatch, splices, tmp_path, timeout=1.0
    )
    assert splices
    result = spliced.one()
    assert not result.ok
    expected = {"close": "protocol", "reset": "connection_lost", "stall": "timeout"}[ending]
    assert result.error_type == expected, result
    if ending == "close":
        assert result.error == f"body shorter than Content-Length: got {BIG // 2} of {BIG} bytes"
    assert verdicts(spliced) == verdicts(plain)


def test_a_digest_or_tls_never_splices(
    server: ServerThread,
    tls_server: ServerThread,
    ca_file: Path,
    tmp_path: Path,
    splices: list[int],
) -> None:
    """``--sha256`` must see every byte, and TLS bytes are not the body's: the read buffer."""
    url = server.url(f"/bytes/{BIG}")
    run = fetch(ENGINE, [url], tmp_path / "digest", sha256=True)
    assert run.one().sha256 == hashlib.sha256(body_bytes(BIG)).hexdigest()
    tls = fetch(ENGINE, [tls_server.url(f"/bytes/{BIG}")], tmp_path / "tls", cacert=ca_file)
    assert tls.saved(tls.one()) == body_bytes(BIG)
    assert not splices


def test_max_size_holds_when_the_head_could_not_tell(
    raw_server: RawServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, splices: list[int]
) -> None:
    """``Content-Length: N, N`` frames the body (equal values) but is no number for the head's
    ``--max-size`` check: the size is checked as the body arrives, so it is never spliced."""

    def script(conn: RawConn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d, %d\r\n\r\n" % (BIG, BIG))
        conn.send(os.urandom(BIG))
        conn.close()

    spliced, plain = one_url_both_ways(
        raw_server, script, monkeypatch, splices, tmp_path, max_size=BIG - 1
    )
    assert not splices
    assert spliced.one().error_type == "too_large"
    assert verdicts(spliced) == verdicts(plain)


def test_a_file_that_takes_no_more_is_an_output_error_and_the_pipe_starts_empty() -> None:
    """ENOSPC from the file (``/dev/full``): an `OutputError`; bytes it left in the pipe must
    not reach the next file, so the pipe is replaced."""
    import socket

    from fetchall.engines.splicing import Pipe
    from fetchall.errors import OutputError

    pipe = Pipe()
    sender, receiver = socket.socketpair()
    full = os.open("/dev/full", os.O_WRONLY)
    read_end, write_end = os.pipe()
    try:
        receiver.setblocking(False)
        sender.sendall(b"lost" * 1000)
        with pytest.raises(OutputError, match="disk"):
            pipe.move(receiver.fileno(), full, 4000)
        with pytest.raises(BlockingIOError):  # the socket was emptied: nothing arrived since
            pipe.move(receiver.fileno(), write_end, 100)
        sender.sendall(b"kept")
        assert pipe.move(receiver.fileno(), write_end, 100) == 4
        assert os.read(read_end, 100) == b"kept"  # nothing of the first bytes came along
        sender.close()
        assert pipe.move(receiver.fileno(), write_end, 100) == 0  # EOF
    finally:
        pipe.close()
        for fd in (full, read_end, write_end):
            os.close(fd)
        sender.close()
        receiver.close()
