"""Issue 14's before/after table in one session: CPU per URL of two fetchall commits, with curl,
the floor (``floor.py``) and the naive aiohttp script as anchors.

Each commit is checked out into a compiled git worktree (``versions.checkout``). The private
nginx (``nginx.py``) serves ``--small-count`` distinct 1 KiB files and ``--large-count`` 1 MiB
files from /dev/shm. Sets and clients:

- ``small-N``: the first N small files, for each N of ``--small-sets`` (default 100000,10000):
  ``keepalive`` of both commits, curl ``-Z --parallel-max 50``, ``floor.py --save temp --report
  -c 50``; on the smallest set also ``aiohttp`` of both commits and the naive aiohttp script;
- ``large``: every large file: ``keepalive`` of both commits (the state store on, as by
  default, and ``--no-state``), the second commit's again with ``FETCHALL_NO_SPLICE=1`` (its
  bodies through the read buffer, not spliced: a no-op before splicing existed), and curl;
- ``startup``: ``fetchall fetch EMPTY -q`` of both commits (the default engine).

fetchall runs with ``-c 50 --per-host 50 -q``. Every client runs once per round, in a rotating
order, after one untimed warm-up round; each run is a whole process whose CPU (user+sys, with
children) comes from ``os.wait4``; its output goes to /dev/shm, is verified (exit 0, the right
number of files) and deleted. CPU per URL = (CPU of the list run − CPU of the client's baseline
run in the same round) / (URLs − baseline URLs): the baseline is an empty list for fetchall and a
one-URL list for the others (they refuse an empty one). Prints Markdown tables of medians and
min–max, with the machine.

    .venv/bin/python benchmarks/speed.py 4025c09 HEAD --rounds 5
    .venv/bin/python benchmarks/speed.py HEAD HEAD+mypyc   # pure against the compiled build
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nginx
from versions import PY, checkout, remove_worktree

HERE = Path(__file__).resolve().parent
FETCHALL = ["-c", "50", "--per-host", "50", "-q"]


@dataclass
class Client:
    """One command timed on one list; ``{list}`` and ``{out}`` are filled in per run."""

    name: str
    argv: list[str]
    env: dict[str, str]
    base_empty: bool  # baseline: an empty list (fetchall) or one URL (the others)
    cpu: list[float] = field(default_factory=list)  # per URL, µs
    wall: list[float] = field(default_factory=list)  # s, the list run


def run(argv: list[str], env: dict[str, str], out: Path, expected: int) -> tuple[float, float]:
    """(wall s, CPU s) of one verified run."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [a.replace("{out}", str(out)) for a in argv], env={**os.environ, **env}, cwd="/",
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    skip = {".fetchall", ".fetchall-tmp", ".tmp"}
    files = [p for p in out.rglob("*") if p.is_file() and not skip & set(p.parts)]
    files = [p for p in files if p.name != "report.jsonl"]
    shutil.rmtree(out, ignore_errors=True)
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or len(files) != expected:
        raise SystemExit(f"bad run (exit {code}, {len(files)}/{expected} files): {argv}\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def fetchall_clients(trees: dict[str, Path], engine: str, extra: list[str]) -> list[Client]:
    """``engine`` of each commit."""
    return [
        Client(f"fetchall {engine} {' '.join(extra)} ({label})".replace("  ", " "),
               [PY, "-m", "fetchall", "fetch", "{list}", "-e", engine, "-o", "{out}", *FETCHALL,
                *extra], {"PYTHONPATH": str(tree)}, True)
        for label, tree in trees.items()
    ]  # fmt: skip


def peers(small: bool) -> list[Client]:
    """curl, and for small files the floor."""
    curl_argv = ["curl", "-Z", "--parallel-max", "50", "-s", "-S", "--remote-name-all",
                 "--output-dir", "{out}", "-K", "{curl}"]  # fmt: skip
    floor_argv = [PY, str(HERE / "floor.py"), "{list}", "{out}", "--save", "temp", "--report",
                  "-c", "50"]  # fmt: skip
    curl = Client("curl -Z --parallel-max 50", curl_argv, {}, False)
    floor = Client("floor.py --save temp --report -c 50", floor_argv, {}, False)
    return [curl, floor] if small else [curl]


def write_list(work: Path, name: str, urls: list[str]) -> tuple[Path, Path]:
    """``name``.txt and ``name``.curl (curl ``-K``) with ``urls``."""
    txt, curl = work / f"{name}.txt", work / f"{name}.curl"
    txt.write_text("".join(f"{u}\n" for u in urls))
    curl.write_text("".join(f'url = "{u}"\n' for u in urls))
    return txt, curl


def measure(clients: list[Client], urls: list[str], work: Path, name: str, rounds: int) -> None:
    """Interleaved rounds (the first untimed) of every client on ``urls``."""
    full = write_list(work, name, urls)
    one = write_list(work, f"{name}-one", urls[:1])
    empty = write_list(work, f"{name}-empty", [])
    for round_no in range(rounds + 1):
        order = clients[round_no % len(clients) :] + clients[: round_no % len(clients)]
        for client in order:
            base_lists, base_n = (empty, 0) if client.base_empty else (one, 1)
            times = {}
            for (txt, curl), n in ((base_lists, base_n), (full, len(urls))):
                argv = [a.replace("{list}", str(txt)).replace("{curl}", str(curl))
                        for a in client.argv]  # fmt: skip
                times[n] = run(argv, client.env, work / "out", n)
            if round_no:
                cpu = (times[len(urls)][1] - times[base_n][1]) / (len(urls) - base_n) * 1e6
                client.cpu.append(cpu)
                client.wall.append(times[len(urls)][0])
            print(f"{name} round {round_no}: {client.name}: {times[len(urls)][0]:.2f} s wall",
                  file=sys.stderr)  # fmt: skip


def startup(trees: dict[str, Path], work: Path, rounds: int) -> list[tuple[str, list[float]]]:
    """CPU s of ``fetchall fetch EMPTY -q`` (default engine) per commit, interleaved."""
    empty = work / "startup-empty.txt"
    empty.write_text("")
    cpu: dict[str, list[float]] = {label: [] for label in trees}
    for round_no in range(3 * rounds + 1):
        for label, tree in trees.items():
            argv = [PY, "-m", "fetchall", "fetch", str(empty), "-o", "{out}", "-q"]
            _, used = run(argv, {"PYTHONPATH": str(tree)}, work / "out", 0)
            if round_no:
                cpu[label].append(used)
    return [(f"`fetchall fetch EMPTY -q` ({label})", c) for label, c in cpu.items()]


def span(values: list[float], fmt: str) -> str:
    """``median (min–max)``."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def table(title: str, clients: list[Client], unit_mib: float | None) -> None:
    """One Markdown table: CPU per URL (or MiB per CPU-second) and wall."""
    print(f"\n### {title}\n")
    if unit_mib is None:
        print("| client | CPU µs/URL, median (min–max) | wall s, median (min–max) |")
        print("|---|---:|---:|")
        for c in clients:
            print(f"| {c.name} | {span(c.cpu, '.0f')} | {span(c.wall, '.2f')} |")
        return
    print("| client | CPU ms per MiB file, median (min–max) | MiB per CPU-s | wall s |")
    print("|---|---:|---:|---:|")
    for c in clients:
        ms = [v / 1000 for v in c.cpu]
        rate = unit_mib / (statistics.median(c.cpu) / 1e6)
        print(f"| {c.name} | {span(ms, '.3f')} | {rate:,.0f} | {span(c.wall, '.2f')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small-count", type=int, default=100_000)
    parser.add_argument("--small-sets", default="100000,10000")
    parser.add_argument("--large-count", type=int, default=2_000)
    parser.add_argument("--skip", default="", help="comma-separated: small, large, startup")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    work = Path(tempfile.mkdtemp(prefix="fa-speed-", dir="/dev/shm"))
    trees: dict[str, Path] = {}
    try:
        for label in (args.before, args.after):
            trees[label] = checkout(label, work / f"tree-{len(trees)}")
        print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, load at start {os.getloadavg()}")  # fmt: skip
        results: list[tuple[str, list[Client], float | None]] = []
        with nginx.serving(args.small_count, args.large_count, base_dir="/dev/shm") as server:
            small_urls = server.sets["small"].urls
            sets = sorted((int(n) for n in args.small_sets.split(",")), reverse=True)
            for n in sets if "small" not in skip else []:
                clients = fetchall_clients(trees, "keepalive", []) + peers(small=True)
                if n == sets[-1]:
                    clients += fetchall_clients(trees, "aiohttp", [])
                    clients.append(Client("naive aiohttp script", [PY, str(HERE /
                                   "naive_aiohttp.py"), "{list}", "{out}"], {}, False))  # fmt: skip
                measure(clients, small_urls[:n], work, f"small-{n}", args.rounds)
                results.append((f"{n:,} × 1 KiB", clients, None))
            if "large" not in skip:
                clients = fetchall_clients(trees, "keepalive", [])
                clients += fetchall_clients(trees, "keepalive", ["--no-state"])
                unspliced = fetchall_clients({args.after: trees[args.after]}, "keepalive", [])[0]
                unspliced.name = f"fetchall keepalive, FETCHALL_NO_SPLICE=1 ({args.after})"
                unspliced.env["FETCHALL_NO_SPLICE"] = "1"
                clients += [unspliced, *peers(False)]
                measure(clients, server.sets["large"].urls, work, "large", args.rounds)
                results.append((f"{args.large_count:,} × 1 MiB", clients, 1.0))
        for title, clients, unit in results:
            table(title, clients, unit)
        if "startup" not in skip:
            print("\n### Start-up\n\n| command | CPU s, median (min–max) |\n|---|---:|")
            for name, values in startup(trees, work, args.rounds):
                print(f"| {name} | {span(values, '.3f')} |")
        print(f"\nload at end {os.getloadavg()}")
    finally:
        for tree in trees.values():
            remove_worktree(tree)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
