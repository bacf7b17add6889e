"""HTTP/1.1 pipelining in the keepalive engine (``--pipeline N``) and the pool that shares
connections: requests really queue on one connection, responses that arrive together are split
by the parser, and requests left unanswered when a connection closes are sent again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from fetchrun import fetch
from hostile import check_table
from rawserver import RawConn, RawServer
from test_hostile_encodings import ENCODINGS
from test_hostile_framing import FRAMING, TIME, TIMEOUT

from fetchall.api import fetch_all
from fetchall.engines.pool import Pool
from fetchall.errors import UsageError
from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(60)

ENGINE = "keepalive"


def ok(body: bytes, *extra: bytes) -> bytes:
    """A keep-alive 200 response carrying ``body``."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body


def path_of(head: bytes) -> bytes:
    return head.split(b" ", 2)[1]


def pipelined_script(answer: Callable[[list[bytes]], bytes]) -> Callable[[RawConn], None]:
    """First connection: answer the first request alone (the connection becomes pipelinable),
    then read the next three requests and write ``answer(heads)`` in one go. Any later
    connection: answer every request with its path as the body."""
    connections = []

    def script(conn: RawConn) -> None:
        connections.append(conn)
        if len(connections) == 1:
            conn.send(ok(path_of(conn.request)))
            heads = conn.read_heads(3)
            assert len(heads) == 3, heads
            conn.send(answer(heads))
            conn.read_heads(1, timeout=1.0)  # linger so the client closes first
            return
        conn.send(ok(path_of(conn.request)))
        while True:
            heads = conn.read_heads(1, timeout=2.0)
            if not heads:
                return
            conn.send(ok(path_of(heads[0])))

    return script


def run4(raw: RawServer, tmp_path: Path, script: Callable[[RawConn], None]) -> dict[str, object]:
    raw.route("*", script)
    urls = [raw.url(f"/p{i}") for i in range(4)]
    run = fetch(ENGINE, urls, tmp_path, concurrency=4, per_host=4, pipeline=4)
    return {r.url: r for r in run.results} | {"run": run}


def test_responses_written_together_are_split(raw_server: RawServer, tmp_path: Path) -> None:
    rows = run4(
        raw_server, tmp_path, pipelined_script(lambda h: b"".join(ok(path_of(x)) for x in h))
    )
    run = rows.pop("run")
    assert raw_server.connections == 1  # one connection: the three were pipelined on it
    for url, row in rows.items():
        assert row.ok and row.attempts == 1, row  # type: ignore[attr-defined]
        assert run.saved(row) == url.split(raw_server.base_url)[1].encode()  # type: ignore[attr-defined]


def test_requests_behind_a_closing_response_are_sent_again(
    raw_server: RawServer, tmp_path: Path
) -> None:
    def answer(heads: list[bytes]) -> bytes:
        return ok(path_of(heads[0]), b"Connection: close") + ok(b"never read")

    rows = run4(raw_server, tmp_path, pipelined_script(answer))
    rows.pop("run")
    assert all(r.ok and r.attempts == 1 for r in rows.values()), rows  # type: ignore[attr-defined]
    assert raw_server.connections >= 2


def test_a_non_2xx_response_closes_and_the_rest_are_sent_again(
    raw_server: RawServer, tmp_path: Path
) -> None:
    def answer(heads: list[bytes]) -> bytes:
        not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"
        return not_found + ok(b"stale 1") + ok(b"stale 2")

    rows = run4(raw_server, tmp_path, pipelined_script(answer))
    run = rows.pop("run")
    failed = [r for r in rows.values() if not r.ok]  # type: ignore[attr-defined]
    assert len(failed) == 1 and failed[0].status == 404 and failed[0].attempts == 1
    for row in rows.values():
        if row.ok:  # type: ignore[attr-defined]
            assert run.saved(row) not in (b"stale 1", b"stale 2")  # type: ignore[attr-defined]


def test_many_urls_share_few_connections(server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{50 + i}") for i in range(80)]
    run = fetch(ENGINE, urls, tmp_path, concurrency=16, per_host=16, pipeline=8)
    assert all(r.ok and r.attempts == 1 for r in run.results), run.results
    assert run.saved(run.by_url(urls[9])) == body_bytes(59)
    assert server.stats.connections <= 2 + 2, server.stats.connections  # ceil(16 / 8) = 2


@pytest.mark.parametrize(
    ("engine", "pipeline", "message"),
    [("asyncio", 2, "keeps connections alive"), (ENGINE, 0, "pipeline"), (ENGINE, 65, "64")],
)
def test_pipeline_option_is_checked(
    engine: str, pipeline: int, message: str, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=message):
        fetch_all(["http://127.0.0.1:9/"], engine=engine, out=tmp_path, pipeline=pipeline)


class FakeConn:
    def __init__(self) -> None:
        self.closed = False
        self.pipelinable = False

    def abort(self) -> None:
        self.closed = True


def test_pool_shares_only_pipelinable_connections_up_to_depth() -> None:
    async def scenario() -> None:
        key = ("http", "h:80")
        pool: Pool[FakeConn] = Pool(per_host=6, limit=50, depth=3)
        assert pool.per_key == 2
        assert await pool.acquire(key) is None  # two slots: the caller connects
        assert await pool.acquire(key) is None
        a, b = FakeConn(), FakeConn()
        pool.opened(key, a)
        pool.opened(key, b)
        waiting = asyncio.ensure_future(pool.acquire(key))
        await asyncio.sleep(0)
        assert not waiting.done()  # nothing pipelinable yet, no slot left
        a.pipelinable = True
        pool.release(key, a, True)  # a is idle now: the waiter takes it
        assert await asyncio.wait_for(waiting, 1) is a
        assert await pool.acquire(key) is a  # shared: 2 users
        assert await pool.acquire(key) is a  # 3 users = depth
        fourth = asyncio.ensure_future(pool.acquire(key))
        await asyncio.sleep(0)
        assert not fourth.done()
        pool.release(key, a, False)  # a fails: aborted for everyone, one use given back
        assert a.closed
        await asyncio.sleep(0)
        assert not fourth.done()  # a is closed: cannot be shared
        pool.release(key, a, False)
        pool.release(key, a, False)  # the last user of a: its slot is free
        assert await asyncio.wait_for(fourth, 1) is None
        pool.release(key, b, True)
        assert pool.open_connections == 2

    asyncio.run(scenario())


@pytest.mark.parametrize("table", ["framing", "time", "encodings"])
def test_hostile_tables_with_pipelining(raw_server: RawServer, tmp_path: Path, table: str) -> None:
    """Issue 5's hostile-server tables, every case in one run on one host with `--pipeline 4`:
    the same verdicts as without pipelining (junk after a response, closes and resets must not
    leak into the next request's answer)."""
    settings: dict[str, object] = {"pipeline": 4}
    if table == "time":
        settings["timeout"] = TIMEOUT
    cases = {"framing": FRAMING, "time": TIME, "encodings": ENCODINGS}[table]
    _, problems = check_table(ENGINE, raw_server, cases, tmp_path, **settings)
    assert not problems, "\n".join(problems)


def test_pool_fresh_slot_replaces_an_idle_connection_and_sharing_can_stop() -> None:
    async def scenario() -> None:
        key = ("http", "h:80")
        pool: Pool[FakeConn] = Pool(per_host=2, limit=50, depth=2)  # one connection per key
        assert await pool.acquire(key) is None
        a = FakeConn()
        pool.opened(key, a)
        a.pipelinable = True
        assert await pool.acquire(key) is a  # shared
        pool.stop_sharing(key)
        waiting = asyncio.ensure_future(pool.acquire(key))
        await asyncio.sleep(0)
        assert not waiting.done()  # sharing stopped: a is busy, no slot left
        pool.release(key, a, True)
        pool.release(key, a, True)  # a is idle now
        assert await asyncio.wait_for(waiting, 1) is a
        pool.release(key, a, True)
        assert await pool.acquire(key, fresh=True) is None  # idle a closed for the slot
        assert a.closed and pool.open_connections == 1

    asyncio.run(scenario())
