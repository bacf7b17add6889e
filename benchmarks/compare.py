"""Engine comparison: every fetchall engine against curl, wget2, aria2c and a naive aiohttp script.

One session, one private nginx (see nginx.py), two file sets: ``small`` (1 KiB files, req/s) and
``large`` (1 MiB files, MiB/s). Per file set, every client runs ``--runs`` times, interleaved
(round 1: A B C ..., round 2: B C ... A, ...), each run as a whole process timed with
``os.wait4`` (wall clock plus the user+sys CPU of the process and its children), each into a NEW
output directory (all deleted only at the very end, never right before a timed run: the
slow-after-delete ext4 trap), after an untimed ``sync``. Every run's output is verified (exit
status 0, file count and total bytes); a wrong run is reported as failed and not timed. Every
command has a timeout. Sequential engines (``concurrent = False`` in fetchall's engine registry)
fetch only the first ``--seq-small`` / ``--seq-large`` files: their rate is what matters.

Writes RESULTS.md (machine, load, commands, one table per file set) and results.json (every run).

    bash benchmarks/setup.sh && .venv/bin/python benchmarks/compare.py --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nginx import MIB, Server, serving

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
FETCHALL_OPTIONS = ("-c", "50", "--per-host", "50", "-q")
VERSION_TIMEOUT = 10.0


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Client:
    """One command to time on one file set (or on a subset of it)."""

    name: str
    set_name: str
    list_name: str  # URL list (without format suffix) this client fetches
    count: int
    total_bytes: int
    argv: tuple[str, ...]  # with {txt} {curl} {aria2} {out} {count} {size} placeholders
    subset: bool = False


@dataclass(slots=True)
class Sample:
    """One timed run."""

    client: str
    set_name: str
    round: int
    ok: bool
    wall_s: float
    cpu_s: float
    exit_code: int | None
    reason: str
    load1: float


@dataclass(slots=True)
class Session:
    """Everything measured in one session (written to results.json)."""

    started: str
    machine: dict[str, str]
    load_initial: list[float]
    load_before: list[float]
    load_waited_s: float
    load_after: list[float] = field(default_factory=list)
    max_load: float = 0.0
    runs: int = 0
    warmup: int = 0
    duration_s: float = 0.0
    commands: dict[str, str] = field(default_factory=dict)
    clients: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)


# --------------------------------------------------------------------------- machine facts


def command_output(argv: Sequence[str]) -> str:
    """First line of a command's stdout+stderr, or a note why there is none."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc.__class__.__name__})"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def mem_total() -> str:
    """MemTotal from /proc/meminfo in GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def debian_version() -> str:
    """Debian release from /etc/debian_version."""
    path = Path("/etc/debian_version")
    return path.read_text().strip() if path.exists() else "not Debian"


def filesystem_of(path: Path) -> str:
    """File system type and device holding ``path``."""
    return command_output(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", str(path)])


def python_has(module: str) -> str:
    """Whether ``module`` is importable by the benchmark's Python (with its version)."""
    code = f"import importlib.metadata as m; print(m.version({module!r}))"
    version = command_output([PYTHON, "-c", code])
    return version if re.fullmatch(r"[\w.]+", version) else "not installed"


def machine_facts(out_base: Path) -> dict[str, str]:
    """What RESULTS.md says about the machine and the tools."""
    uname = os.uname()
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "ram": mem_total(),
        "kernel": f"{uname.sysname} {uname.release} {uname.machine}",
        "os": f"Debian {debian_version()}",
        "python": platform.python_version(),
        "fetchall": python_has("fetchall"),
        "aiohttp": python_has("aiohttp"),
        "uvloop": python_has("uvloop"),
        "nginx": command_output([nginx_path(), "-v"]),
        "curl": " ".join(command_output(["curl", "--version"]).split()[:3]),
        "wget2": command_output(["wget2", "--version"]),
        "aria2c": command_output(["aria2c", "--version"]),
        "output_fs": filesystem_of(out_base),
    }


def nginx_path() -> str:
    """nginx's path (in /usr/sbin, maybe not on PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin") or "nginx"


# --------------------------------------------------------------------------- load


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [float(part) for part in Path("/proc/loadavg").read_text().split()[:3]]


def wait_for_quiet(max_load: float, max_wait: float, poll: float) -> float:
    """Wait (bounded) until the 1-minute load is below ``max_load``; return seconds waited."""
    start = time.monotonic()
    while loadavg()[0] >= max_load and time.monotonic() - start < max_wait:
        print(f"load {loadavg()} >= {max_load}: waiting {poll:.0f} s", flush=True)
        time.sleep(poll)
    waited = time.monotonic() - start
    if loadavg()[0] >= max_load:
        print(f"load still {loadavg()} after {waited:.0f} s: running anyway", flush=True)
    return waited


# --------------------------------------------------------------------------- engines, clients


def fetchall_command() -> list[str]:
    """How to start fetchall with the benchmark's Python."""
    script = Path(PYTHON).parent / "fetchall"
    return [str(script)] if script.exists() else [PYTHON, "-m", "fetchall"]


def discover_engines() -> list[tuple[str, bool]]:
    """Ready engines from fetchall's registry, as (name, concurrent)."""
    code = (
        "import json; from fetchall.engines import ENGINES; "
        "print(json.dumps([[n, bool(getattr(i, 'concurrent', True))] for n, i in ENGINES.items()]))"
    )
    done = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return [(str(name), bool(conc)) for name, conc in json.loads(done.stdout)]


def select_engines(only: str | None, sequential: str | None) -> list[tuple[str, bool]]:
    """Engines to run: the registry, filtered by --engines, with --sequential forced to subset."""
    engines = discover_engines()
    if only:
        wanted = [name.strip() for name in only.split(",") if name.strip()]
        known = dict(engines)
        missing = [name for name in wanted if name not in known]
        if missing:
            raise SystemExit(f"unknown engine(s) {missing}; ready: {sorted(known)}")
        engines = [(name, known[name]) for name in wanted]
    forced = {name.strip() for name in (sequential or "").split(",") if name.strip()}
    return [(name, concurrent and name not in forced) for name, concurrent in engines]


def peer_argvs() -> dict[str, tuple[str, ...]]:
    """The non-fetchall clients, with placeholders for lists and the output directory."""
    return {
        "naive aiohttp script": (PYTHON, str(HERE / "naive_aiohttp.py"), "{txt}", "{out}"),
        "curl -Z --parallel-max 50": (
            "curl",
            "-Z",
            "--parallel-max",
            "50",
            "-s",
            "-S",
            "--remote-name-all",
            "--output-dir",
            "{out}",
            "-K",
            "{curl}",
        ),
        "wget2 --max-threads 10": (
            "wget2",
            "--max-threads",
            "10",
            "--no-xattr",
            "-q",
            "-i",
            "{txt}",
            "-P",
            "{out}",
        ),
        "aria2c -j 50": ("aria2c", "-j", "50", "-q", "-i", "{aria2}", "-d", "{out}"),
        "reference: write the files only (no network)": (
            PYTHON,
            str(HERE / "write_only.py"),
            "{count}",
            "{size}",
            "{out}",
        ),
    }


def clients_for(
    server: Server, set_name: str, engines: list[tuple[str, bool]], seq_count: int
) -> list[Client]:
    """Every client to time on one file set; sequential engines on the first ``seq_count``."""
    fileset = server.sets[set_name]
    subset_name = f"{set_name}-first{seq_count}"
    seq_count = min(seq_count, fileset.count)
    if seq_count > 0:
        server.write_lists(subset_name, fileset.urls[:seq_count])
    clients = []
    for engine, concurrent in engines:
        argv = (*fetchall_command(), "fetch", "{txt}", "-e", engine, "-o", "{out}")
        argv = (*argv, *FETCHALL_OPTIONS)
        if concurrent:
            clients.append(
                Client(
                    f"fetchall {engine}",
                    set_name,
                    set_name,
                    fileset.count,
                    fileset.total_bytes,
                    argv,
                )
            )
        elif seq_count > 0:
            clients.append(
                Client(
                    f"fetchall {engine} (sequential: first {seq_count})",
                    set_name,
                    subset_name,
                    seq_count,
                    seq_count * fileset.size,
                    argv,
                    subset=True,
                )
            )
    for name, argv in peer_argvs().items():
        clients.append(Client(name, set_name, set_name, fileset.count, fileset.total_bytes, argv))
    return clients


def extra_clients(server: Server, set_name: str, args: argparse.Namespace) -> list[Client]:
    """``--variant`` clients (current fetchall, extra options) and ``--before`` clients (the
    older checkout's fetchall first on ``PYTHONPATH``), on the whole file set."""
    fileset = server.sets[set_name]
    specs: list[tuple[str, tuple[str, ...]]] = []
    for variant in args.variant:
        engine, *options = variant.split()
        argv = (*fetchall_command(), "fetch", "{txt}", "-e", engine, "-o", "{out}")
        specs.append((f"fetchall {variant}", (*argv, *FETCHALL_OPTIONS, *options)))
    if args.before is not None:
        before = str(args.before.resolve())
        for engine in filter(None, (e.strip() for e in args.before_engines.split(","))):
            argv = ("env", f"PYTHONPATH={before}", PYTHON, "-m", "fetchall", "fetch", "{txt}")
            argv = (*argv, "-e", engine, "-o", "{out}", *FETCHALL_OPTIONS)
            specs.append((f"fetchall {engine} ({args.before_label})", argv))
    return [
        Client(name, set_name, set_name, fileset.count, fileset.total_bytes, argv)
        for name, argv in specs
    ]


def render(client: Client, server: Server, out: Path) -> list[str]:
    """The client's argv with real paths in place of the placeholders."""
    size = client.total_bytes // client.count
    values = {
        "txt": str(server.list_path(client.list_name, "txt")),
        "curl": str(server.list_path(client.list_name, "curl")),
        "aria2": str(server.list_path(client.list_name, "aria2")),
        "out": str(out),
        "count": str(client.count),
        "size": str(size),
    }
    return [arg.format(**values) if "{" in arg else arg for arg in client.argv]


def display(client: Client) -> str:
    """The command as shown in RESULTS.md (LIST and OUT instead of temporary paths)."""
    values = {
        "txt": "LIST.txt",
        "curl": "LIST.curl",
        "aria2": "LIST.aria2",
        "out": "OUT",
        "count": "COUNT",
        "size": "SIZE",
    }
    home = str(Path.cwd()) + "/"
    parts = [arg.format(**values) if "{" in arg else arg for arg in client.argv]
    return " ".join(part.replace(home, "") for part in parts)


# --------------------------------------------------------------------------- one timed run


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_timed(argv: list[str], log: Path, cwd: Path, timeout: float) -> tuple[float, float, int]:
    """Run ``argv`` to completion; return (wall s, user+sys CPU s, exit code; -9 = timeout)."""
    with open(log, "wb") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    kill_group(proc.pid)  # leftovers (e.g. pool workers) never outlive their run
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def count_output(out: Path) -> tuple[int, int]:
    """Files and bytes under ``out``, not counting fetchall's report.jsonl at its top."""
    files = size = 0
    for dirpath, _dirnames, filenames in os.walk(out):
        for filename in filenames:
            if dirpath == str(out) and filename == "report.jsonl":
                continue
            files += 1
            size += os.lstat(os.path.join(dirpath, filename)).st_size
    return files, size


def verify(client: Client, out: Path, exit_code: int, wall: float, timeout: float) -> str:
    """Why a run is wrong ("" if it is right): exit status, file count, total bytes."""
    if exit_code != 0:
        return f"timeout after {timeout:.0f} s" if wall >= timeout else f"exit status {exit_code}"
    files, size = count_output(out)
    if files != client.count or size != client.total_bytes:
        return f"{files} files / {size} bytes, expected {client.count} / {client.total_bytes}"
    return ""


def measure(
    client: Client, server: Server, out: Path, logs: Path, round_no: int, timeout: float
) -> Sample:
    """One verified, timed run of ``client`` into the new directory ``out``."""
    out.mkdir(parents=True)
    os.sync()  # untimed: no earlier run's writeback lands in this one
    load1 = loadavg()[0]
    log = logs / f"{out.name}.log"
    wall, cpu, code = run_timed(render(client, server, out), log, logs, timeout)
    reason = verify(client, out, code, wall, timeout)
    ok = not reason
    return Sample(client.name, client.set_name, round_no, ok, wall, cpu, code, reason, load1)


# --------------------------------------------------------------------------- a file set


def slug(text: str) -> str:
    """A file-name-safe form of a client name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60]


def run_set(
    clients: list[Client], server: Server, out_base: Path, args: argparse.Namespace
) -> list[Sample]:
    """Warm-up rounds (untimed), then ``--runs`` interleaved rounds; returns timed samples."""
    logs = out_base / "logs"
    logs.mkdir(exist_ok=True)
    samples: list[Sample] = []
    total_rounds = args.warmup + args.runs
    for round_no in range(total_rounds):
        timed = round_no >= args.warmup
        shift = round_no % len(clients)
        for client in clients[shift:] + clients[:shift]:
            label = f"r{round_no - args.warmup + 1}" if timed else f"warmup{round_no + 1}"
            out = out_base / f"{client.set_name}-{label}-{slug(client.name)}"
            sample = measure(client, server, out, logs, round_no - args.warmup + 1, args.timeout)
            print_sample(sample, client, label)
            if args.delete_each_run and not args.keep_output:
                shutil.rmtree(out, ignore_errors=True)  # untimed; for RAM-backed --base-dir
            if timed:
                samples.append(sample)
    return samples


def print_sample(sample: Sample, client: Client, label: str) -> None:
    """One progress line per run."""
    rate = rate_of(client, sample.wall_s)
    unit = "req/s" if client.set_name == "small" else "MiB/s"
    status = "ok" if sample.ok else f"FAILED: {sample.reason}"
    print(
        f"  [{client.set_name} {label:>8}] {client.name:<48} {sample.wall_s:8.3f} s "
        f"{rate:10.1f} {unit}  cpu {sample.cpu_s:7.3f} s  {status}",
        flush=True,
    )


def rate_of(client: Client, wall: float) -> float:
    """req/s for the small set, MiB/s for the large one."""
    if client.set_name == "small":
        return client.count / wall
    return client.total_bytes / MIB / wall


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a results table."""

    client: Client
    ok_runs: int
    runs: int
    median: float | None
    low: float | None
    high: float | None
    wall: float | None
    cpu: float | None


def summarise(client: Client, samples: list[Sample]) -> Row:
    """Median and range of the verified runs of one client."""
    mine = [s for s in samples if s.client == client.name and s.set_name == client.set_name]
    good = [s for s in mine if s.ok]
    if not good:
        return Row(client, 0, len(mine), None, None, None, None, None)
    rates = [rate_of(client, s.wall_s) for s in good]
    return Row(
        client,
        len(good),
        len(mine),
        statistics.median(rates),
        min(rates),
        max(rates),
        statistics.median(s.wall_s for s in good),
        statistics.median(s.cpu_s for s in good),
    )


def fmt_rate(value: float | None, set_name: str) -> str:
    """req/s as an integer with separators; MiB/s with one decimal."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if set_name == "small" else f"{value:,.1f}"


def table(rows: list[Row], set_name: str) -> list[str]:
    """Markdown table for one file set, with ratios to curl's median."""
    unit = "req/s" if set_name == "small" else "MiB/s"
    curl = next((r for r in rows if r.client.name.startswith("curl")), None)
    base = curl.median if curl else None
    lines = [
        f"| client | files | ok runs | {unit} median | min–max | ratio to curl "
        "| wall s median | CPU s (user+sys) median |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = f"{row.median / base:.2f}×" if row.median and base else "—"
        span = (
            f"{fmt_rate(row.low, set_name)}–{fmt_rate(row.high, set_name)}"
            if row.low is not None
            else "—"
        )
        wall = f"{row.wall:.3f}" if row.wall is not None else "—"
        cpu = f"{row.cpu:.3f}" if row.cpu is not None else "—"
        lines.append(
            f"| {row.client.name} | {row.client.count:,} | {row.ok_runs}/{row.runs} "
            f"| {fmt_rate(row.median, set_name)} | {span} | {ratio} | {wall} | {cpu} |"
        )
    return lines


def failures(samples: list[Sample]) -> list[str]:
    """One line per failed run."""
    return [f"- {s.set_name}, round {s.round}, {s.client}: {s.reason}" for s in samples if not s.ok]


def machine_lines(session: Session) -> list[str]:
    """The machine section of RESULTS.md."""
    m = session.machine
    return [
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram']}",
        f"- Kernel: {m['kernel']}; {m['os']}",
        f"- Python {m['python']}; fetchall {m['fetchall']}, aiohttp {m['aiohttp']}, "
        f"uvloop {m['uvloop']} (installed in .venv)",
        f"- {m['nginx']}; {m['curl']}",
        f"- {m['wget2']}; {m['aria2c']}",
        f"- Output directories on: `{m['output_fs']}`",
    ]


def load_lines(session: Session) -> list[str]:
    """The load section of RESULTS.md."""
    loads = [s.load1 for s in session.samples]
    span = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "—"
    return [
        f"- Load average (1/5/15 min) when the script started: {fmt_load(session.load_initial)}; "
        f"waited {session.load_waited_s:.0f} s for the 1-minute load to drop below "
        f"{session.max_load}; at the start of the run: {fmt_load(session.load_before)}",
        f"- Load average after the run: {fmt_load(session.load_after)}",
        f"- 1-minute load at the start of each timed run: {span}",
    ]


def fmt_load(values: list[float]) -> str:
    """``0.12 / 0.30 / 0.25``."""
    return " / ".join(f"{v:.2f}" for v in values)


def results_markdown(
    session: Session, sets: dict[str, list[Client]], server: Server, args: argparse.Namespace
) -> str:
    """The whole RESULTS.md."""
    lines = [
        "# Engine comparison — results",
        "",
        f"Measured {session.started} by `benchmarks/compare.py` "
        f"(`{' '.join(sys.argv[1:]) or 'no options'}`), in {session.duration_s / 60:.1f} min. "
        "The numbers are the script's output, verbatim; every run is in `results.json`.",
        "",
        "## Machine",
        "",
        *machine_lines(session),
        *load_lines(session),
        "",
        "## Method",
        "",
        "- Server: private nginx on 127.0.0.1 (1 worker, `sendfile on`, keep-alive allowed "
        "with nginx's defaults, `access_log off`), see `nginx.py`.",
        f"- {args.warmup} untimed warm-up round(s), then {session.runs} timed rounds per file "
        "set; in each round every client runs once, interleaved, the order rotated by one "
        "per round.",
        "- Whole processes timed with `os.wait4` (wall clock from spawn to exit; CPU = user+sys "
        "of the process and its children); an untimed `sync` before each run.",
        (
            "- Each run writes into a new directory (under `--base-dir`), deleted right after "
            "its verification (`--delete-each-run`)."
            if args.delete_each_run
            else "- Each run writes into a new directory on disk; all are deleted only after "
            "the session."
        ),
        "A run counts only if it exits 0 and leaves exactly the expected number of "
        "files and bytes; otherwise it is listed as failed and not timed. Timeout per run: "
        f"{args.timeout:.0f} s.",
        "- Median and min–max over the verified runs; ratio = client median / curl median from "
        "this same session. Sequential engines fetch only the first files of a set "
        "(labelled); their rate is comparable, their wall time is not.",
        "",
        "Commands (`LIST.*` = URL list in the format the tool reads, `OUT` = new directory):",
        "",
        *command_lines(sets),
        "",
    ]
    for set_name, clients in sets.items():
        fileset = server.sets[set_name]
        unit = "KiB" if fileset.size < MIB else "MiB"
        size = fileset.size // (1024 if unit == "KiB" else MIB)
        rows = [summarise(client, session.samples) for client in clients]
        lines += [f"## {set_name.capitalize()} files: {fileset.count:,} × {size} {unit}", ""]
        lines += [*table(rows, set_name), ""]
    failed = failures(session.samples)
    lines += ["## Failed runs", "", *(failed or ["None: every timed run was verified."]), ""]
    lines += ["## Observations", "", "(written by hand after reading the tables above)", ""]
    return "\n".join(lines)


def command_lines(sets: dict[str, list[Client]]) -> list[str]:
    """One bullet per distinct command."""
    seen: dict[str, str] = {}
    for clients in sets.values():
        for client in clients:
            name = client.name.split(" (")[0]
            seen.setdefault(name, display(client))
    return [f"- {name}: `{command}`" for name, command in seen.items()]


def write_json(path: Path, session: Session) -> None:
    """Every run and the context, for anyone who wants to recompute."""
    data = asdict(session)
    path.write_text(json.dumps(data, indent=1) + "\n")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="timed rounds per file set (5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds (1)")
    p.add_argument("--small-count", type=int, default=10_000, help="1 KiB files (10000)")
    p.add_argument("--large-count", type=int, default=200, help="1 MiB files (200)")
    p.add_argument("--seq-small", type=int, default=1000, help="small files for sequential engines")
    p.add_argument("--seq-large", type=int, default=50, help="large files for sequential engines")
    p.add_argument("--engines", help="comma-separated engines (default: every ready engine)")
    p.add_argument("--sequential", help="engines to run on the subset too (comma-separated)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per run (300)")
    p.add_argument("--max-load", type=float, default=0.7, help="wait for 1-min load below this")
    p.add_argument("--load-wait", type=float, default=600.0, help="wait at most this long (s)")
    p.add_argument("--load-poll", type=float, default=30.0, help="poll the load every (s)")
    p.add_argument("--base-dir", default=None, help="where temp directories go (default: TMPDIR)")
    p.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    p.add_argument("--json", type=Path, default=HERE / "results.json")
    p.add_argument("--keep-output", action="store_true", help="do not delete the downloads")
    p.add_argument(
        "--delete-each-run",
        action="store_true",
        help="delete each run's downloads right after it is verified (needed with a tmpfs "
        "--base-dir such as /dev/shm, which holds every run in RAM; on a disk, deleting "
        "between runs slows the next creates, so the default keeps them to the end)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        help="one more fetchall client: 'ENGINE OPTION...', e.g. 'keepalive --pipeline 8'",
    )
    p.add_argument(
        "--before",
        type=Path,
        default=None,
        help="a checkout of an older fetchall (e.g. a git worktree): also time its engines",
    )
    p.add_argument("--before-engines", default="", help="engines to time from --before")
    p.add_argument("--before-label", default="before", help="label of the --before clients")
    args = p.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.small_count < 1 or args.large_count < 1:
        p.error("--runs, --small-count and --large-count must be ≥ 1, --warmup ≥ 0")
    return args


KEEP_MARKER = "<!-- compare.py keeps everything below this line -->"


def kept_sections(results: Path) -> str:
    """The hand-written part of an existing results file: from `KEEP_MARKER` to the end."""
    try:
        text = results.read_text(encoding="utf-8")
    except OSError:
        return ""
    at = text.find(KEEP_MARKER)
    return "\n" + text[at:] if at >= 0 else ""


def run_session(args: argparse.Namespace, out_base: Path, session: Session) -> None:
    """Start nginx, run both file sets, write the results; nginx is stopped whatever happens."""
    engines = select_engines(args.engines, args.sequential)
    print(f"engines: {engines}", flush=True)
    started = time.monotonic()
    with serving(args.small_count, args.large_count, args.base_dir) as server:
        print(f"nginx on {server.base_url}, files under {server.work}", flush=True)
        sets = {
            "small": clients_for(server, "small", engines, args.seq_small)
            + extra_clients(server, "small", args),
            "large": clients_for(server, "large", engines, args.seq_large)
            + extra_clients(server, "large", args),
        }
        for set_name, clients in sets.items():
            print(f"== {set_name}: {len(clients)} clients", flush=True)
            session.clients[set_name] = [
                {"name": c.name, "count": c.count, "bytes": c.total_bytes, "subset": c.subset}
                for c in clients
            ]
            session.samples += run_set(clients, server, out_base, args)
        session.load_after = loadavg()
        session.duration_s = time.monotonic() - started
        session.commands = {c.name: display(c) for cs in sets.values() for c in cs}
        args.results.write_text(
            results_markdown(session, sets, server, args) + kept_sections(args.results)
        )
        write_json(args.json, session)
    print(f"wrote {args.results} and {args.json}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Wait for a quiet machine, measure, report, clean up."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out_base = Path(tempfile.mkdtemp(prefix="fetchall-bench-out-", dir=args.base_dir))
    try:
        machine = machine_facts(out_base)
        load_initial = loadavg()
        waited = wait_for_quiet(args.max_load, args.load_wait, args.load_poll)
        load_before = loadavg()
        session = Session(
            started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            machine=machine,
            load_initial=load_initial,
            load_before=load_before,
            load_waited_s=waited,
            max_load=args.max_load,
            runs=args.runs,
            warmup=args.warmup,
        )
        print(f"load before: {load_before}", flush=True)
        run_session(args, out_base, session)
        print(f"load after: {session.load_after}", flush=True)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        cleanup(out_base, args.keep_output)


def cleanup(out_base: Path, keep: bool) -> None:
    """Delete every run's output (after the session, never between timed runs)."""
    if keep:
        print(f"kept the downloads in {out_base}", flush=True)
        return
    print(f"deleting {out_base} ...", flush=True)
    shutil.rmtree(out_base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
