"""``fetchall bench``: tiny real runs through the Python API and the CLI, the JSON schema, the
presets, and the usage errors that must come before any run. No timing assertions: only
counts, shapes, and that medians are medians of the runs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fetchall.bench
from fetchall.bench import SCHEMA, BenchReport, build_config, run_bench, seed_preset
from fetchall.bench.measure import percentile
from fetchall.bench.model import RATE_FIELDS, RUN_FIELDS
from fetchall.bench.progress import BenchProgress
from fetchall.bench.report import machine_line, render_table, workload_line
from fetchall.bench.workload import ideal_seconds
from fetchall.engines import ENGINES
from fetchall.errors import UsageError
from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(60)

TINY = ("--engines", "blocking,asyncio", "--count", "4", "--latency", "0.01", "--repeat", "2")


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetchall", "bench", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


# ------------------------------------------------------------------------- schema checking

NUMBER = (int, float)


def check_schema(doc: dict[str, Any]) -> None:
    """Assert ``doc`` is a fetchall-bench/1 document (keys and types)."""
    assert set(doc) == {"schema", "machine", "workload", "results"}
    assert doc["schema"] == SCHEMA
    machine = doc["machine"]
    assert isinstance(machine["cpu_count"], int)
    for key in ("python", "implementation", "platform", "machine", "date"):
        assert isinstance(machine[key], str)
    workload = doc["workload"]
    assert workload["source"] in ("builtin-server", "url-files")
    assert isinstance(workload["url_files"], list)
    for key in ("concurrency", "repeat", "retries"):
        assert isinstance(workload[key], int)
    for key in ("count", "size_bytes", "per_host"):
        assert workload[key] is None or isinstance(workload[key], int)
    for key in ("latency_s", "jitter_s", "ideal_s"):
        assert workload[key] is None or isinstance(workload[key], NUMBER)
    assert isinstance(workload["run_timeout_s"], NUMBER)
    assert isinstance(workload["engine_concurrency"], dict)
    assert isinstance(workload["engines"], list)
    assert isinstance(doc["results"], list) and doc["results"]
    for result in doc["results"]:
        assert isinstance(result["engine"], str)
        assert isinstance(result["concurrency"], int) and isinstance(result["per_host"], int)
        assert isinstance(result["failed_runs"], int)
        for key in ("wall_min_s", "wall_max_s", "speedup_vs_blocking", "x_ideal"):
            assert result[key] is None or isinstance(result[key], NUMBER)
        assert set(result["median"]) == set(RUN_FIELDS + RATE_FIELDS)
        for value in result["median"].values():
            assert value is None or isinstance(value, NUMBER)
        assert isinstance(result["runs"], list) and result["runs"]
        for run in result["runs"]:
            assert set(run) == {"round", *RUN_FIELDS, "exit_code", "error"}
            for key in ("round", "max_rss_kib", "requests", "ok", "failed", "bytes"):
                assert isinstance(run[key], int) and not isinstance(run[key], bool)
            for key in ("wall_s", "cpu_s"):
                assert isinstance(run[key], NUMBER)
            for key in ("p50_ms", "p95_ms", "p99_ms"):
                assert run[key] is None or isinstance(run[key], NUMBER)
            assert run["error"] is None or isinstance(run["error"], str)


def check_tiny(doc: dict[str, Any]) -> None:
    """The tiny run: both engines, 2 rounds, 4 ok requests each, medians of the runs."""
    check_schema(doc)
    assert [r["engine"] for r in doc["results"]] == ["blocking", "asyncio"]
    assert doc["workload"]["count"] == 4 and doc["workload"]["ideal_s"] is not None
    for result in doc["results"]:
        runs = result["runs"]
        assert [run["round"] for run in runs] == [1, 2]
        for run in runs:
            assert (run["requests"], run["ok"], run["failed"]) == (4, 4, 0), run
            assert run["error"] is None and run["exit_code"] == 0
            assert run["bytes"] == 4 * 1024
            assert run["wall_s"] > 0 and run["max_rss_kib"] > 0
        for key in RUN_FIELDS:
            assert result["median"][key] == pytest.approx(statistics.median(r[key] for r in runs))
        walls = [run["wall_s"] for run in runs]
        assert (result["wall_min_s"], result["wall_max_s"]) == (min(walls), max(walls))
    blocking = doc["results"][0]
    assert blocking["speedup_vs_blocking"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ real runs


@pytest.fixture(scope="module")
def tiny_report() -> Iterator[tuple[BenchReport, str]]:
    """The tiny bench through the Python API, with a plain-text progress listener."""
    stream = io.StringIO()
    config = build_config(engines="blocking,asyncio", count=4, latency=0.01, repeat=2)
    with BenchProgress(stream=stream) as progress:
        report = run_bench(config, progress)
    yield report, stream.getvalue()


def test_api_tiny_run(tiny_report: tuple[BenchReport, str]) -> None:
    report, progress = tiny_report
    check_tiny(json.loads(json.dumps(report.to_json())))
    assert report.all_ok
    lines = progress.splitlines()
    assert len(lines) == 4  # interleaved: blocking, asyncio, blocking, asyncio
    assert "blocking, round 1/2" in lines[0] and "asyncio, round 1/2" in lines[1]
    assert "blocking, round 2/2" in lines[2] and "asyncio, round 2/2" in lines[3]


def test_rendering(tiny_report: tuple[BenchReport, str]) -> None:
    report, _ = tiny_report
    table = render_table(report)
    assert [c.header for c in table.columns][-1] == "× ideal"
    assert table.row_count == 2
    assert "4 URLs" in workload_line(report) and "2 rounds" in workload_line(report)
    assert "CPUs" in machine_line(report)


@pytest.mark.skipif(not has_matplotlib(), reason="matplotlib (fetchall[plot]) not installed")
def test_write_plot(tiny_report: tuple[BenchReport, str], tmp_path: Path) -> None:
    from fetchall.bench.plot import write_plot

    path = tmp_path / "bench.png"
    write_plot(tiny_report[0], path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_cli_tiny_run(tmp_path: Path) -> None:
    plot = ("--plot", str(tmp_path / "bench.png")) if has_matplotlib() else ()
    proc = cli(*TINY, "--json", str(tmp_path / "bench.json"), *plot, "--workdir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    check_tiny(json.loads((tmp_path / "bench.json").read_text()))
    assert "blocking" in proc.stdout and "asyncio" in proc.stdout and "machine:" in proc.stdout
    assert proc.stderr.count("fetchall bench: [") == 4  # plain progress lines off a terminal
    if plot:
        assert (tmp_path / "bench.png").stat().st_size > 0
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert sorted(leftovers) == sorted(["bench.json", *(["bench.png"] if plot else [])])


def test_url_files_workload(server: ServerThread, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/bytes/10?i={i}") + "\n" for i in range(3)))
    report = run_bench(build_config(engines="asyncio", url_files=[urls], workdir=tmp_path))
    doc = report.to_json()
    check_schema(doc)
    assert doc["workload"]["source"] == "url-files" and doc["workload"]["ideal_s"] is None
    (result,) = doc["results"]
    assert result["runs"][0]["requests"] == 3 and result["runs"][0]["bytes"] == 30
    assert result["x_ideal"] is None and result["speedup_vs_blocking"] is None
    assert list(tmp_path.iterdir()) == [urls]  # the run's files are gone


def test_run_timeout_kills_and_reports(tmp_path: Path) -> None:
    config = build_config(engines="asyncio", count=2, latency=30, run_timeout=0.5, workdir=tmp_path)
    report = run_bench(config)
    (run,) = report.results[0].runs
    assert run.error is not None and "timed out" in run.error
    assert run.failed == 2 and not report.all_ok
    assert report.results[0].median()["wall_s"] is None  # no completed run to take it of


# ---------------------------------------------------------------------------- usage errors


def test_unknown_engine_is_one_line_exit_2() -> None:
    proc = cli("--engines", "blocking,nosuch")
    assert proc.returncode == 2
    assert proc.stderr.startswith("fetchall: error: unknown engine 'nosuch'")
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("--count", "0"),
        ("--repeat", "-1"),
        ("--latency", "nan"),
        ("--size", "0"),
        ("--run-timeout", "0"),
        ("--preset", "nosuch"),
        ("--json", "/nonexistent-dir/x.json"),
    ],
)
def test_bad_values_exit_2(args: tuple[str, ...]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_plot_without_matplotlib_fails_before_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from fetchall.cli import main

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run started although --plot cannot work")

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setattr(fetchall.bench, "run_bench", must_not_run)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", *TINY, "--plot", str(tmp_path / "x.png")])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exit_info.value.code == 2
    assert "pip install 'fetchall[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------ presets and pieces


def test_seed_preset_parameters() -> None:
    config = build_config("seed").validated()
    cpus = os.cpu_count() or 1
    assert (config.count, config.latency, config.preset) == (20, 0.5, "seed")
    assert config.engines == tuple(ENGINES)  # all registered engines
    for engine in ("threads", "processes"):
        assert config.concurrency_for(engine) == cpus
        assert config.per_host_for(engine) == cpus
    for engine in ("polling", "select", "generator", "asyncio", "aiohttp"):
        assert config.concurrency_for(engine) == 20 and config.per_host_for(engine) == 20
    assert seed_preset(cpu_count=7).concurrency_for("processes") == 7
    assert ideal_seconds(config.count, config.concurrency, 20, config.latency) == 0.5
    narrowed = build_config("seed", engines="blocking,asyncio").validated()
    assert narrowed.engines == ("blocking", "asyncio") and narrowed.count == 20


def test_latency_preset_parameters() -> None:
    config = build_config("latency")
    assert (config.count, config.latency, config.concurrency) == (1000, 0.1, 100)
    assert ideal_seconds(1000, 100, 100, 0.1) == pytest.approx(1.0)


def test_config_conflicts(tmp_path: Path) -> None:
    urls = tmp_path / "u.txt"
    urls.write_text("http://127.0.0.1:9/\n")
    with pytest.raises(UsageError, match="own workload"):
        build_config("seed", url_files=[urls])
    with pytest.raises(UsageError, match="built-in server"):
        build_config(url_files=[urls], count=5)
    with pytest.raises(UsageError, match="unknown engine"):
        build_config(engines="blocking,,bogus").validated()


def test_launcher_reports_the_childs_own_peak_rss(tmp_path: Path) -> None:
    """A child spawned straight from a big process inherits its peak RSS on Linux; through the
    launcher it must not (the test process holds 128 MiB of ballast; the child is tiny)."""
    from fetchall.bench.measure import LAUNCHER

    ballast = bytearray(128 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touch every page
    result = tmp_path / "measured.json"
    child = [sys.executable, "-I", "-S", "-c", "raise SystemExit(3)"]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCHER), str(result), "--", *child], timeout=30
    )
    del ballast
    assert proc.returncode == 0
    data = json.loads(result.read_text())
    assert data["exit_code"] == 3 and data["wall_s"] > 0
    assert 0 < data["maxrss"] < (64 * 1024 if sys.platform != "darwin" else 64 * 1024 * 1024)


def test_percentile_and_ideal() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 99) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([0.0, 100.0], 95) == 95.0
    assert ideal_seconds(20, 20, 20, 0.5) == 0.5
    assert ideal_seconds(21, 20, 20, 0.5) == 1.0
    assert ideal_seconds(5, 50, 2, 0.1) == pytest.approx(0.3)  # per-host limits too
