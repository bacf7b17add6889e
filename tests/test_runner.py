"""Runner behaviour that is not engine-specific: --resume, lazy reading, report placement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fetchrun import FAST

from fetchall.api import fetch_all
from fetchall.errors import UsageError
from fetchall.result import Result
from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(30)


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_resume_continues_an_interrupted_run(server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{n}") for n in range(1, 11)] + [server.url("/status/503")]

    seen: list[Result] = []

    def stop_after_four(result: Result) -> None:
        seen.append(result)
        if len(seen) == 4:
            raise KeyboardInterrupt

    first = fetch_all(urls, engine="blocking", out=tmp_path, on_result=stop_after_four, **FAST)
    assert first.interrupted and first.ok == 4
    server.stats.reset()
    second = fetch_all(urls, engine="asyncio", out=tmp_path, resume=True, **FAST)
    assert second.resumed == 4 and (second.ok, second.failed) == (6, 1)
    assert second.exit_code == 1
    assert server.stats.requests == 7  # the rest, nothing fetched twice
    report = rows(tmp_path / "report.jsonl")
    assert sorted(str(r["url"]) for r in report) == sorted(urls)  # one row each
    assert all((tmp_path / str(r["path"])).is_file() for r in report if r["ok"])


def test_url_source_is_read_lazily(server: ServerThread, tmp_path: Path) -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield server.url(f"/bytes/{i % 50}")
            if pulled == 30:
                raise KeyboardInterrupt  # stop the run like Ctrl-C after 30 lines

    summary = fetch_all(endless(), engine="asyncio", out=tmp_path, concurrency=5, **FAST)
    assert summary.interrupted and summary.exit_code == 130
    assert pulled == 30


def test_bad_options_raise_before_fetching(server: ServerThread, tmp_path: Path) -> None:
    for bad in ({"concurrency": 0}, {"timeout": float("nan")}, {"engine": "nope"}, {"warp": 9}):
        with pytest.raises(UsageError):
            fetch_all([server.url("/bytes/1")], out=tmp_path / "o", **bad)  # type: ignore[arg-type]
    assert server.stats.requests == 0 and not (tmp_path / "o").exists()


def test_report_elsewhere_and_callback_cannot_overwrite_it(
    server: ServerThread, tmp_path: Path
) -> None:
    summary = fetch_all(
        [server.url("/json/1")],
        engine="blocking",
        out=tmp_path,
        callbacks={"*": lambda resp: "report.jsonl"},
        **FAST,
    )
    assert summary.ok == 1
    report = rows(tmp_path / "report.jsonl")
    assert report[0]["path"] != "report.jsonl" and report[0]["ok"] is True
    other = tmp_path / "elsewhere" / "r.jsonl"
    fetch_all([server.url("/json/2")], engine="blocking", out=tmp_path / "o", report=other, **FAST)
    assert rows(other)[0]["ok"] is True and not (tmp_path / "o" / "report.jsonl").exists()


def test_resume_twice_keeps_every_saved_row(server: ServerThread, tmp_path: Path) -> None:
    """A finished run continued with more URLs fetches only the new ones; continued again, it
    fetches nothing, and every row is carried over."""
    urls = [server.url(f"/bytes/{n}") for n in range(1, 7)]
    fetch_all(urls[:3], engine="asyncio", out=tmp_path, **FAST)
    second = fetch_all(urls, engine="asyncio", out=tmp_path, resume=True, **FAST)
    assert second.resumed == 3 and second.ok == 3
    server.stats.reset()
    third = fetch_all(urls, engine="asyncio", out=tmp_path, resume=True, **FAST)
    assert third.resumed == 6 and server.stats.requests == 0
    report = rows(tmp_path / "report.jsonl")
    assert sorted(str(r["url"]) for r in report) == sorted(urls)


def test_resume_rewrites_a_lost_report_from_the_state(server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{n}") for n in range(1, 5)]
    fetch_all(urls, engine="asyncio", out=tmp_path, **FAST)
    report = tmp_path / "report.jsonl"
    before = rows(report)
    report.unlink()
    server.stats.reset()
    summary = fetch_all(urls, engine="asyncio", out=tmp_path, resume=True, **FAST)
    assert summary.resumed == 4 and server.stats.requests == 0
    assert rows(report) == sorted(before, key=lambda r: urls.index(str(r["url"])))


def test_progress_line_says_which_hosts_are_held_back(tmp_path: Path) -> None:
    import io

    from fetchall.politeness import HostStatus
    from fetchall.progress import ProgressView, hosts_held
    from fetchall.result import Result

    assert hosts_held(HostStatus(0, 0, 0)) == ""
    assert hosts_held(HostStatus(2, 1, 3)) == (
        "2 cooling down, 1 rate-limited, 3 awaiting robots.txt"
    )

    from fetchall.inputsize import RunProgress
    from fetchall.summary import RunSummary

    class Watched:
        summary = RunSummary("asyncio")

        def host_status(self) -> HostStatus:
            return HostStatus(1, 0, 0)

        def progress(self) -> RunProgress:
            return RunProgress(1, None, False, 3)

    stream = io.StringIO()
    view = ProgressView(stream=stream)
    view.watch(Watched())  # type: ignore[arg-type]
    with view:
        view._last_line -= 10  # the plain line is due
        view(Result(url="http://a/", engine="asyncio", ok=True))
    assert ", 3 in flight; hosts 1 cooling down" in stream.getvalue()


def test_interrupt_gives_a_handed_off_redirect_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL whose redirect hop waits for another origin's robots.txt is still in flight:
    Ctrl-C gives it an ``interrupted`` row like any other. A scripted engine answers:
    robots.txt of a → 404, a/hop → 302 to b, robots.txt of b → Ctrl-C."""
    import fetchall.runner
    from fetchall.engines.base import RunContext, advance
    from fetchall.http.headers import Headers
    from fetchall.policy import Attempt, Final, Outcome, Request

    def answer(request: Request) -> Outcome:
        url = request.target.url
        if url == "http://b.test/robots.txt":
            raise KeyboardInterrupt
        if url.endswith("/robots.txt"):
            return Outcome(status=404, reason="Not Found")
        return Outcome(
            status=302, reason="Found", headers=Headers([("Location", "http://b.test/x")])
        )

    class Scripted:
        name = "scripted"

        def run(self, ctx: RunContext) -> None:
            while (job := ctx.next_job()) is not None:
                step = advance(job.plan, None)
                while isinstance(step, Attempt):
                    step = advance(job.plan, answer(step.request))
                assert isinstance(step, Final)
                ctx.complete(job, step)

    monkeypatch.setattr(fetchall.runner, "create_engine", lambda name: Scripted())
    summary = fetch_all(["http://a.test/hop"], engine="asyncio", out=tmp_path, robots=True)
    [row] = rows(tmp_path / "report.jsonl")
    assert summary.interrupted and summary.exit_code == 130
    assert row["url"] == "http://a.test/hop" and row["error_type"] == "interrupted"
    assert row["final_url"] == "http://b.test/x" and row["redirects"] == 1
