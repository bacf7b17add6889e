"""``--cluster``: the shard plan (pure), and real runs on a Dask `LocalCluster` and on real
``dask scheduler`` + ``dask worker`` processes on 127.0.0.1 — the same files and rows as one
process, per-host limits cluster-wide, chunks of a big host one after another, a worker killed
mid-run, an unreachable scheduler, refusals."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fetchrun import saved_files

from fetchall.api import fetch_all
from fetchall.cluster.connect import ClusterSpec, parse_cluster
from fetchall.cluster.shards import Item, plan
from fetchall.errors import UsageError
from fetchall.result import Result
from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(120)

FAST = {"retries": 0, "timeout": 20.0, "connect_timeout": 5.0}


# ------------------------------------------------------------------------------ the plan


def items(host: str, n: int, start: int = 1) -> list[Item]:
    return [Item(start + i, f"http://{host}/{i}", f"http://{host}/{i}") for i in range(n)]


def test_plan_packs_whole_hosts_and_chains_big_ones() -> None:
    hosts = [
        ("a:80", 3, items("a", 3)), ("b:80", 4, items("b", 4, 10)),
        ("big:80", 7, items("big", 7, 20)), ("c:80", 2, items("c", 2, 40)),
    ]  # fmt: skip
    shards = list(plan(hosts, shard_size=5))
    assert [(s.id, s.hosts, len(s.items), s.after) for s in shards] == [
        (1, ("a:80",), 3, None),
        (2, ("big:80",), 5, None),
        (3, ("big:80",), 2, 2),
        (4, ("b:80",), 4, None),
        (5, ("c:80",), 2, None),
    ]
    by_host: dict[str, set[int]] = {}
    for shard in shards:
        assert len(shard.items) <= 5
        for item in shard.items:
            by_host.setdefault(item.url.split("/")[2], set()).add(shard.id)
    assert all(len(ids) == 1 for host, ids in by_host.items() if host != "big")
    chain = [s for s in shards if s.hosts == ("big:80",)]
    assert [s.after for s in chain] == [None, chain[0].id]
    assert sum(len(s.items) for s in shards) == 16


def test_plan_exact_layout() -> None:
    hosts = [("a", 3, items("a", 3)), ("b", 2, items("b", 2)), ("c", 1, items("c", 1))]
    assert [(s.hosts, len(s.items)) for s in plan(hosts, 5)] == [(("a", "b"), 5), (("c",), 1)]
    big = [("x", 11, items("x", 11))]
    assert [(len(s.items), s.after) for s in plan(big, 5)] == [(5, None), (5, 1), (1, 2)]
    assert list(plan([], 5)) == []
    with pytest.raises(ValueError):
        list(plan(big, 0))


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("local:2", ClusterSpec(local=2)),
        ("tcp://127.0.0.1:8786", ClusterSpec(address="tcp://127.0.0.1:8786")),
        ("sched.json", ClusterSpec(scheduler_file=Path("sched.json"))),
    ],
)
def test_parse_cluster(text: str, spec: ClusterSpec) -> None:
    assert parse_cluster(text) == spec


@pytest.mark.parametrize("text", ["local:0", "local:x", "local:9999", "http://x:1", "nope", ""])
def test_parse_cluster_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--cluster"):
        parse_cluster(text)


# ------------------------------------------------------------------------------ real runs


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[ServerThread]]:
    servers = [ServerThread().start() for _ in range(4)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def url_list(hosts: list[ServerThread], per_host: int, latency: float = 0.01) -> list[str]:
    return [
        h.url(f"/bytes/{1000 + 37 * i + n}?latency={latency}")
        for i in range(per_host)
        for n, h in enumerate(hosts)
    ]


def rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]


def wait_for_a_row(out: Path) -> None:
    """Wait (up to 60 s) until a running fetch into ``out`` has written a report row."""
    report = out / "report.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not report.exists() or report.stat().st_size == 0):
        time.sleep(0.05)


def failed_rows(out: Path) -> list[dict[str, object]]:
    """The report's rows that are not ok (what a failing run's assertion shows)."""
    return [row for row in rows(out) if not row["ok"]]


def comparable(out: Path) -> tuple[list[tuple[object, ...]], dict[str, bytes]]:
    keys = ("url", "final_url", "ok", "status", "error_type", "path", "bytes", "content_type")
    table = sorted(tuple(row[k] for k in keys) for row in rows(out))
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in saved_files(out)}
    return table, files


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_local_cluster_gives_what_one_process_gives(
    hosts: list[ServerThread], tmp_path: Path, engine: str
) -> None:
    urls = [*url_list(hosts, 40), "not a url", hosts[0].url("/status/404"), url_list(hosts, 1)[0]]
    single = fetch_all(urls, engine=engine, out=tmp_path / "one", **FAST)
    for server in hosts:
        server.stats.reset()
    spread = fetch_all(
        urls, engine=engine, out=tmp_path / "two", cluster="local:2", shard_size=50,
        per_host=3, **FAST,
    )  # fmt: skip
    assert spread.workers == 2
    assert (spread.ok, spread.failed, spread.duplicates) == (single.ok, single.failed, 1)
    assert comparable(tmp_path / "two") == comparable(tmp_path / "one")
    assert max(server.stats.max_active for server in hosts) <= 3  # --per-host, cluster-wide
    assert not (tmp_path / "two" / ".fetchall-tmp").exists()  # the coordinator removed it


def test_a_shard_run_leaves_the_shared_temp_dir_in_place(
    hosts: list[ServerThread], tmp_path: Path
) -> None:
    """A shard's run ends while other workers still write into DIR's temp dir: removing it
    then made their next temp file fail (a CI run of the cluster tests); a plain run removes it."""
    urls = url_list(hosts, 2)
    shard = fetch_all(urls, engine="asyncio", out=tmp_path / "s", shared_out=True, **FAST)
    plain = fetch_all(urls, engine="asyncio", out=tmp_path / "p", **FAST)
    assert shard.ok == plain.ok == len(urls)
    assert (tmp_path / "s" / ".fetchall-tmp").is_dir()
    assert not (tmp_path / "p" / ".fetchall-tmp").exists()


def test_chunks_of_a_big_host_never_overlap(hosts: list[ServerThread], tmp_path: Path) -> None:
    """One host, 120 URLs, shards of 30: four chained chunks, spread over two workers; each
    alone keeps --per-host 4 busy, so an overlap would show 5 or more in flight."""
    big = hosts[0]
    big.stats.reset()
    urls = [big.url(f"/bytes/{n}?latency=0.03") for n in range(1, 121)]
    summary = fetch_all(
        urls, engine="asyncio", out=tmp_path, cluster="local:2", shard_size=30, per_host=4,
        concurrency=50, **FAST,
    )  # fmt: skip
    assert summary.ok == 120
    assert big.stats.max_active == 4


def test_a_killed_worker_loses_nothing(hosts: list[ServerThread], tmp_path: Path) -> None:
    urls = url_list(hosts, 60, latency=0.05)
    for server in hosts:
        server.stats.reset()
    seen: list[Result] = []
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 60
        while len(seen) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        from distributed import default_client

        pids = default_client().run(os.getpid)  # worker address -> its pid
        pid = next(iter(pids.values()))
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    threading.Thread(target=kill_one_worker, daemon=True).start()
    summary = fetch_all(
        urls, engine="asyncio", out=tmp_path, cluster="local:2", shard_size=30, per_host=4,
        on_result=seen.append, **FAST,
    )  # fmt: skip
    assert killed, "the worker was not killed"
    assert summary.ok == len(urls) and summary.failed == 0, failed_rows(tmp_path)
    report = rows(tmp_path)
    assert sorted(str(r["url"]) for r in report) == sorted(urls)  # one row per URL
    assert not list((tmp_path / ".fetchall-tmp").glob("*"))  # no partial file
    for server in hosts:  # each URL served at most twice
        assert max(server.stats.by_path.values()) <= 2, {
            path: n for path, n in server.stats.by_path.items() if n > 2
        }


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetchall", *args], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_refusals_and_an_unreachable_scheduler(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:1/x\n")
    started = time.monotonic()
    proc = cli(str(urls), "-o", str(tmp_path / "o"), "--cluster", "tcp://127.0.0.1:1",
               "--connect-timeout", "2", "--no-progress")  # fmt: skip
    assert proc.returncode == 2 and "cannot reach the scheduler" in proc.stderr, proc.stderr
    assert time.monotonic() - started < 20 and "Traceback" not in proc.stderr
    proc = cli(str(urls), "-o", str(tmp_path / "p"), "--cluster", "local:1", "-e", "processes")
    assert proc.returncode == 2 and "processes engine" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = cli("crawl", "http://127.0.0.1:1/", "-o", str(tmp_path / "c"), "--cluster", "local:1")
    assert proc.returncode == 2 and "crawl does not run on --cluster" in proc.stderr
    proc = cli(str(urls), "-o", str(tmp_path / "q"), "--cluster", "planet")
    assert proc.returncode == 2 and "--cluster must be" in proc.stderr


DASK = str(Path(sys.executable).with_name("dask"))


@contextlib.contextmanager
def dask_process(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``dask ARGS`` (a scheduler or workers), stopped at the end."""
    proc = subprocess.Popen([DASK, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def dask_scheduler(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A real ``dask scheduler`` on 127.0.0.1: its scheduler file, once written (≤ 30 s), and
    its process."""
    scheduler_file = tmp_path / "scheduler.json"
    with dask_process("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                      "--scheduler-file", str(scheduler_file)) as scheduler:  # fmt: skip
        deadline = time.monotonic() + 30
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        yield scheduler_file, scheduler


def dask_workers(
    scheduler_file: Path, count: int
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``dask worker`` with ``count`` one-thread worker processes."""
    return dask_process(
        "worker", "--scheduler-file", str(scheduler_file), "--nworkers", str(count),
        "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
    )  # fmt: skip


def test_real_scheduler_and_worker_processes(hosts: list[ServerThread], tmp_path: Path) -> None:
    with dask_scheduler(tmp_path) as (scheduler_file, _), dask_workers(scheduler_file, 2):
        address = json.loads(scheduler_file.read_text())["address"]
        _wait_for_workers(address, 2)
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(url_list(hosts, 25)) + "\n")
        one = cli(str(urls), "-o", str(tmp_path / "one"), "-e", "select", "--no-progress")
        assert one.returncode == 0, (one.stderr, failed_rows(tmp_path / "one"))
        for spec in (address, str(scheduler_file)):
            out = tmp_path / spec[-6:].replace(":", "-").replace(".", "-")
            run = cli(str(urls), "-o", str(out), "-e", "select", "--cluster", spec,
                      "--shard-size", "20", "--no-progress")  # fmt: skip
            assert run.returncode == 0, (run.stderr, failed_rows(out))
            assert "on 2 Dask workers" in run.stdout
            assert comparable(out) == comparable(tmp_path / "one")


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=20) as client:
        client.wait_for_workers(count, timeout=30)


def test_ctrl_c_then_resume(hosts: list[ServerThread], tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    listed = url_list(hosts, 50, latency=0.1)
    urls.write_text("\n".join(listed) + "\n")
    out = tmp_path / "o"
    args = [sys.executable, "-m", "fetchall", str(urls), "-o", str(out), "-e", "asyncio",
            "--cluster", "local:2", "--shard-size", "20", "-c", "4", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_a_row(out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    first = rows(out)
    assert 0 < len(first) < len(listed)
    assert not list((out / ".fetchall-tmp").glob("*"))
    saved = {p.relative_to(out).as_posix() for p in saved_files(out)}
    assert saved == {row["path"] for row in first if row["ok"]}  # every saved file has its row
    again = cli(*args[3:], "--resume")
    assert again.returncode == 0, again.stderr
    assert sorted(str(r["url"]) for r in rows(out)) == sorted(listed)


INTERRUPT_AT_FIRST_ROW = """
import json, os, signal, sys
from fetchall.api import fetch_all

def main() -> None:
    out, urls = sys.argv[1], sys.argv[2:]
    seen: list[str] = []

    def interrupt_once(row: object) -> None:  # Ctrl-C while the first shard is being recorded
        if not seen:
            seen.append(getattr(row, "url"))
            os.kill(os.getpid(), signal.SIGINT)

    summary = fetch_all(
        urls, out=out, engine="asyncio", cluster="local:2", shard_size=10, on_result=interrupt_once,
        retries=0, timeout=20.0, connect_timeout=5.0,
    )
    print(json.dumps({"interrupted": summary.interrupted, "rows": summary.total}))

if __name__ == "__main__":
    main()
"""


def test_ctrl_c_while_a_shard_is_recorded_keeps_the_shard_whole(
    hosts: list[ServerThread], tmp_path: Path
) -> None:
    """Ctrl-C arrives while the coordinator writes the first finished shard's rows: it waits
    until the shard is recorded whole (rows, state), so no saved file is left without its row,
    and `--resume` finishes the rest with one row per URL."""
    script = tmp_path / "interrupt.py"
    script.write_text(INTERRUPT_AT_FIRST_ROW)
    listed = url_list(hosts, 10, latency=0.05)
    out = tmp_path / "o"
    run = subprocess.run(
        [sys.executable, str(script), str(out), *listed],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.splitlines()[-1])
    assert summary["interrupted"], summary
    first = rows(out)
    saved = {p.relative_to(out).as_posix() for p in saved_files(out)}
    assert saved == {row["path"] for row in first if row["ok"]}  # every saved file has its row
    assert sum(1 for row in first if row["ok"]) >= 10, first  # the first shard, whole
    again = fetch_all(listed, out=out, engine="asyncio", cluster="local:2", resume=True, **FAST)
    assert not again.interrupted
    assert sorted(str(r["url"]) for r in rows(out)) == sorted(listed)


def test_callbacks_are_shipped_to_the_workers(hosts: list[ServerThread], tmp_path: Path) -> None:
    """A --callbacks file's functions travel with the shards: the file is gone before the run."""
    from fetchall.callbacks import load_callbacks_file

    hooks = tmp_path / "hooks.py"
    hooks.write_text(
        "from fetchall import on_host\n"
        "PREFIX = 'renamed'\n\n"
        "@on_host('*')\n"
        "def rename(resp):\n"
        '    return f\'{PREFIX}/{resp.url.rsplit("/", 1)[-1].split("?")[0]}.bin\'\n'
    )
    registry = load_callbacks_file(hooks)
    hooks.unlink()
    urls = url_list(hosts[:2], 3)
    summary = fetch_all(
        urls, out=tmp_path / "o", callbacks=registry, cluster="local:1", engine="asyncio", **FAST
    )
    assert summary.ok == 6
    assert sorted(str(r["path"]) for r in rows(tmp_path / "o")) == sorted(
        f"renamed/{url.rsplit('/', 1)[-1].split('?')[0]}.bin" for url in urls
    )


def test_bench_shows_one_process_and_the_cluster_side_by_side() -> None:
    from fetchall.bench import build_config, run_bench

    config = build_config(engines="asyncio,processes", count=40, latency=0.01, cluster="local:2")
    report = run_bench(config)
    assert [r.label for r in report.results] == ["asyncio", "asyncio on local:2", "processes"]
    assert report.all_ok
    assert report.to_json()["results"][1]["cluster"] == "local:2"


def test_items_and_enqueue_under_a_cluster(hosts: list[ServerThread], tmp_path: Path) -> None:
    """Items emitted on the workers all reach DIR/items.jsonl (the coordinator writes them);
    enqueue is refused in one line: a URL added on a worker would get no row."""
    from fetchall.callbacks import CallbackRegistry, Response

    added = hosts[1].url("/bytes/777")

    def hook(resp: Response) -> None:
        if resp.url.endswith("/bytes/1000?latency=0.01"):
            resp.enqueue(added)
        resp.emit({"url": resp.url})

    urls = url_list(hosts, 10)
    summary = fetch_all(
        urls, out=tmp_path, engine="asyncio", cluster="local:2", shard_size=5,
        callbacks=CallbackRegistry({"127.0.0.1": hook}), **FAST,
    )  # fmt: skip
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert summary.items == len(items) == len(urls) - 1  # the enqueueing page failed
    assert sorted(str(r["url"]) for r in rows(tmp_path)) == sorted(urls)
    failed = [r for r in rows(tmp_path) if not r["ok"]]
    assert len(failed) == 1 and "not available under --cluster" in str(failed[0]["error"])
    assert hosts[1].stats.by_path["/bytes/777"] == 0


def test_a_bad_scheduler_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "scheduler.json"
    bad.write_text("{not json")
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:1/x\n")
    proc = cli(str(urls), "-o", str(tmp_path / "o"), "--cluster", str(bad))
    assert proc.returncode == 2 and "not a Dask scheduler file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


WORKER_LOGS_AN_ERROR = """
import logging, sys
from fetchall.cluster.connect import ClusterSpec, connected

def fail_loudly():
    try:
        raise OSError("scheduler gone")
    except OSError:
        logging.getLogger("distributed.worker").exception("heartbeat failed: %s", "MARK")

with connected(ClusterSpec(local=1), 30) as (client, _):
    client.run(fail_loudly)
print("done")
"""


def test_a_local_clusters_own_errors_do_not_reach_stderr(tmp_path: Path) -> None:
    """A local cluster's processes share our stderr. Their shutdown races (a worker's heartbeat
    to a scheduler that just closed, logged with a traceback) must not reach the user: one CI
    run's Ctrl-C test saw one. Whatever went wrong for a URL is in its row."""
    run = subprocess.run(
        [sys.executable, "-c", WORKER_LOGS_AN_ERROR], capture_output=True, text=True,
        timeout=90, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "done"
    assert "MARK" not in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_a_scheduler_without_workers_is_one_line(tmp_path: Path) -> None:
    """Shards would wait for a worker forever: after --connect-timeout it is a usage error,
    and the URLs stay queued for --resume."""
    with dask_scheduler(tmp_path) as (scheduler_file, _):
        urls = tmp_path / "urls.txt"
        urls.write_text("http://127.0.0.1:1/x\n")
        started = time.monotonic()
        run = cli(str(urls), "-o", str(tmp_path / "o"), "--cluster", str(scheduler_file),
                  "--connect-timeout", "2", "--no-progress")  # fmt: skip
        assert run.returncode == 2, run.stderr
        assert run.stderr.strip().splitlines() == [
            f"fetchall: error: --cluster {scheduler_file}: no worker joined the scheduler "
            "within 2s (--connect-timeout)"
        ]
        assert time.monotonic() - started < 30
    again = cli(str(urls), "-o", str(tmp_path / "o"), "--cluster", "local:1", "--resume",
                "--no-progress")  # fmt: skip
    assert again.returncode == 1, again.stderr  # port 1 refuses: a failed row
    assert [row["error_type"] for row in rows(tmp_path / "o")] == ["connect"]


def test_a_lost_scheduler_ends_the_run_and_resume_finishes_it(
    hosts: list[ServerThread], tmp_path: Path
) -> None:
    """The scheduler dies mid-run: its client cancels every future, and the run waited
    forever. Now it ends in one line (exit 2), keeps what finished, and --resume does the rest."""
    listed = url_list(hosts, 40, latency=0.1)
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(listed) + "\n")
    out = tmp_path / "o"
    common = [str(urls), "-o", str(out), "-e", "asyncio", "--shard-size", "10", "-c", "2",
              "--no-progress"]  # fmt: skip
    with dask_scheduler(tmp_path) as (scheduler_file, scheduler), dask_workers(scheduler_file, 2):
        _wait_for_workers(json.loads(scheduler_file.read_text())["address"], 2)
        proc = subprocess.Popen(
            [sys.executable, "-m", "fetchall", *common, "--cluster", str(scheduler_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for_a_row(out)
        scheduler.kill()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert stderr.strip().splitlines() == [
        f"fetchall: error: --cluster {scheduler_file}: lost the Dask scheduler; the URLs that "
        "did not end stay queued for --resume"
    ]
    first = rows(out)
    assert 0 < len(first) < len(listed) and all(row["ok"] for row in first)
    again = cli(*common, "--cluster", "local:2", "--resume")
    assert again.returncode == 0, again.stderr
    assert sorted(str(r["url"]) for r in rows(out)) == sorted(listed)  # one row per URL
