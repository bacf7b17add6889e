"""Load: many URLs at high concurrency against a local server — a benchmark script, not a test.

Issue 5 asks that a run of 100,000 URLs at concurrency 1,000 ends with no "too many open files",
bounded memory and every row present. For each chosen engine this script:

1. starts the built-in server in its own process (``python -m fetchall serve --port 0``, read
   the ``serving on URL`` line), fresh for each engine so no engine inherits another's load;
   ``--server nginx`` starts a private nginx instead (benchmarks/nginx.py), whose ``/bytes/``
   URLs all answer the same 100 bytes: fast enough for 1,000,000 URLs (issue 6's memory case);
2. writes ``--count`` distinct URLs (``/bytes/SIZE?i=N``) to a list;
3. runs ``python -m fetchall fetch LIST -e ENGINE -c C --per-host C --no-progress -o DIR``
   through fetchall's bench launcher (``python -I -S launcher.py``), which spawns and reaps it
   with ``os.wait4``: wall time, exit status, user+sys CPU and the child's peak RSS (a child
   spawned straight from a big parent would be charged with the parent's RSS). The child starts
   from a typical soft open-file limit of 1,024 (``--soft-nofile``), so the run also shows that
   fetchall raises the limit itself;
4. checks: report rows == URLs, ok rows, error types, "too many open files" anywhere (stderr or
   report), a traceback on stderr; then deletes the downloads.

Prints one line per engine and a Markdown table at the end (``--markdown FILE`` writes it).

    .venv/bin/python benchmarks/load.py                      # 100,000 URLs, -c 1000, asyncio
    .venv/bin/python benchmarks/load.py --engines asyncio,select,aiohttp --markdown /tmp/load.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LAUNCHER = ROOT / "fetchall" / "bench" / "launcher.py"
PYTHON = sys.executable
SERVERS = {"builtin": "built-in server", "nginx": "private nginx (fixed 100-byte body)"}
EMFILE_RE = re.compile(r"too many open files", re.IGNORECASE)


@dataclass
class LoadResult:
    """What one engine's run left behind."""

    engine: str
    count: int
    concurrency: int
    exit_code: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mib: float = 0.0
    rows: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    emfile: int = 0
    traceback: bool = False
    note: str = ""

    @property
    def all_rows(self) -> bool:
        """Every URL has its report row."""
        return self.rows == self.count

    def line(self) -> str:
        """One human-readable line."""
        errors = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "none"
        rate = self.rows / self.wall_s if self.wall_s else 0.0
        return (
            f"{self.engine}: exit {self.exit_code}, {self.rows}/{self.count} rows "
            f"({'all present' if self.all_rows else 'ROWS MISSING'}), {self.ok} ok, "
            f"errors: {errors}, 'too many open files': {self.emfile}, "
            f"traceback: {'yes' if self.traceback else 'no'}, wall {self.wall_s:.1f} s "
            f"({rate:,.0f} URLs/s), CPU {self.cpu_s:.1f} s, peak RSS {self.max_rss_mib:.1f} MiB"
            + (f" — {self.note}" if self.note else "")
        )


@contextlib.contextmanager
def builtin_server() -> Iterator[str]:
    """Run ``fetchall serve --port 0`` in its own process group; yield its base URL."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "fetchall", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "serving on http://127.0.0.1:PORT"
        if not line.startswith("serving on "):
            raise RuntimeError(f"the built-in server did not start: {line!r}")
        yield line.split()[-1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextlib.contextmanager
def nginx_server() -> Iterator[str]:
    """A private nginx (see nginx.py) whose ``/bytes/...`` URLs all answer a fixed 100-byte body."""
    from nginx import make_tree, start_nginx, stop_nginx  # benchmarks/nginx.py

    work = Path(tempfile.mkdtemp(prefix="fetchall-load-nginx-"))
    try:
        make_tree(work)
        process, port = start_nginx(work, "/bytes/100")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_nginx(process)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_list(path: Path, base: str, count: int, size: int) -> None:
    """``count`` distinct URLs of ``size``-byte bodies."""
    with open(path, "w", encoding="ascii") as stream:
        for i in range(count):
            stream.write(f"{base}/bytes/{size}?i={i}\n")


def run_engine(engine: str, args: argparse.Namespace, workdir: Path) -> LoadResult:
    """One measured run of ``engine`` against a fresh server (see module docstring)."""
    result = LoadResult(engine, args.count, args.concurrency)
    run_dir = Path(tempfile.mkdtemp(prefix=f"load-{engine}-", dir=workdir))
    out, measure = run_dir / "out", run_dir / "measure.json"
    stdout_path, stderr_path = run_dir / "stdout.txt", run_dir / "stderr.txt"
    try:
        server = nginx_server() if args.server == "nginx" else builtin_server()
        with server as base:
            urls = run_dir / "urls.txt"
            write_list(urls, str(base), args.count, args.size)
            argv = [
                PYTHON, "-m", "fetchall", "fetch", str(urls), "-e", engine, "-o", str(out),
                "-c", str(args.concurrency), "--per-host", str(args.concurrency),
                "--no-progress", *args.extra,
            ]  # fmt: skip
            with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
                launcher = subprocess.Popen(
                    [PYTHON, "-I", "-S", str(LAUNCHER), str(measure), "--", *argv],
                    cwd=ROOT,
                    stdout=so,
                    stderr=se,
                    start_new_session=True,
                    preexec_fn=lambda: lower_soft_nofile(args.soft_nofile),
                )
                try:
                    launcher.wait(args.run_timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(launcher.pid, signal.SIGKILL)
                    launcher.wait()
                    result.note = f"killed after {args.run_timeout:g} s"
        if measure.exists():
            record = json.loads(measure.read_text(encoding="utf-8"))
            result.exit_code = record.get("exit_code")
            result.wall_s = float(record.get("wall_s", 0.0))
            result.cpu_s = float(record.get("utime_s", 0.0)) + float(record.get("stime_s", 0.0))
            result.max_rss_mib = int(record.get("maxrss", 0)) / 1024  # Linux: KiB
        stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
        result.traceback = "Traceback" in stderr
        result.emfile = len(EMFILE_RE.findall(stderr))
        report = out / "report.jsonl"
        if report.exists():
            with open(report, encoding="utf-8") as stream:
                for line in stream:
                    row = json.loads(line)
                    result.rows += 1
                    if row["ok"]:
                        result.ok += 1
                    else:
                        result.errors[row["error_type"]] += 1
                        if EMFILE_RE.search(row["error"] or ""):
                            result.emfile += 1
        if args.keep:
            result.note = (result.note + f" kept in {run_dir}").strip()
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return result


def markdown(results: list[LoadResult], args: argparse.Namespace, started: str) -> str:
    """The results as a Markdown table with a short header."""
    lines = [
        f"{args.count:,} URLs (`/bytes/{args.size}?i=N`, distinct), `-c {args.concurrency} "
        f"--per-host {args.concurrency}`, {SERVERS[args.server]} in its own process (fresh "
        f"per engine); {os.cpu_count()} CPUs; open-file limit started at soft {args.soft_nofile} "
        f"(hard {open_file_limit().split('/')[1]}), fetchall raises it itself; {started}.",
        "",
        '| engine | exit | rows / URLs | ok | errors | "too many open files" | traceback '
        "| wall s | URLs/s | CPU s | peak RSS MiB |",
        "|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.most_common()) or "none"
        rate = r.rows / r.wall_s if r.wall_s else 0.0
        lines.append(
            f"| `{r.engine}` | {r.exit_code} | {r.rows:,} / {r.count:,} | {r.ok:,} | {errors} "
            f"| {r.emfile} | {'yes' if r.traceback else 'no'} | {r.wall_s:.1f} | {rate:,.0f} "
            f"| {r.cpu_s:.1f} | {r.max_rss_mib:.1f} |"
        )
    return "\n".join(lines) + "\n"


def lower_soft_nofile(soft: int) -> None:
    """In the child before exec: start from a typical soft open-file limit (fetchall must raise
    it itself for ``-c``), unless ``soft`` is 0."""
    import resource

    if soft:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))


def open_file_limit() -> str:
    """``soft/hard`` RLIMIT_NOFILE of this process (the child inherits it, then raises soft)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f"{soft}/{hard}"


def main() -> int:
    """Parse options, run every engine, print (and optionally write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="asyncio", help="comma-separated [asyncio]")
    parser.add_argument("--count", type=int, default=100_000, help="URLs [100000]")
    parser.add_argument("-c", "--concurrency", type=int, default=1000, help="-c [1000]")
    parser.add_argument("--size", type=int, default=100, help="bytes per body [100]")
    parser.add_argument(
        "--server",
        choices=("builtin", "nginx"),
        default="builtin",
        help="fetchall serve, or a private nginx answering 100 bytes to any /bytes/ URL [builtin]",
    )
    parser.add_argument("--run-timeout", type=float, default=1800, help="per run, s [1800]")
    parser.add_argument("--workdir", type=Path, default=None, help="[system temp]")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here")
    parser.add_argument("--keep", action="store_true", help="keep downloads and logs")
    parser.add_argument(
        "--soft-nofile", type=int, default=1024, help="soft open-file limit to start from [1024]"
    )
    parser.add_argument("extra", nargs="*", help="more fetchall options (after --)")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    workdir = args.workdir or Path(tempfile.gettempdir())
    started = time.strftime("%Y-%m-%d %H:%M")
    results = []
    for engine in engines:
        print(f"{engine}: {args.count:,} URLs at -c {args.concurrency} ...", flush=True)
        result = run_engine(engine, args, workdir)
        print(result.line(), flush=True)
        results.append(result)
    table = markdown(results, args, started)
    print()
    print(table)
    if args.markdown is not None:
        args.markdown.write_text(table, encoding="utf-8")
    good = all(r.all_rows and not r.emfile and not r.traceback for r in results)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
