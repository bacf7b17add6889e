"""Where the `aiohttp` engine's CPU per URL goes: aiohttp alone, fetchall's duties, fetchall.

Issue 14's third target asks the `aiohttp` engine for no more CPU per URL than the naive aiohttp
script (``naive_aiohttp.py``). This run puts the clients that separate the two side by side, in
one session, interleaved (``speed.py``'s method: a warm-up round, then ``--rounds`` rounds in a
rotating order, CPU from ``os.wait4`` net of a baseline run, outputs on /dev/shm):

- curl ``-Z --parallel-max 50`` (the anchor of every table);
- ``aiohttp_floor.py --save none``: aiohttp's own request and response, nothing saved;
- ``aiohttp_floor.py --save direct``: the naive script's duty (one ``open().write()``), on
  fetchall's loop and limits;
- ``aiohttp_floor.py --save temp --report``: fetchall's file and report duties on aiohttp;
- the naive aiohttp script (the target);
- fetchall ``-e aiohttp`` with and without the state store, and ``-e keepalive`` (the same
  fetchall on its own transport), of the commit given (a compiled git worktree).

    .venv/bin/python benchmarks/aiohttp_parts.py HEAD --count 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nginx
from speed import FETCHALL, Client, run, span, write_list
from versions import PY, checkout, remove_worktree

HERE = Path(__file__).resolve().parent


def clients(tree: Path, label: str) -> list[tuple[Client, bool]]:
    """Every client, with whether its run leaves one file per URL."""
    floor = [PY, str(HERE / "aiohttp_floor.py"), "{list}", "{out}", "-c", "50"]
    fetchall = [PY, "-m", "fetchall", "fetch", "{list}", "-o", "{out}", *FETCHALL]
    env = {"PYTHONPATH": str(tree)}
    curl = ["curl", "-Z", "--parallel-max", "50", "-s", "-S", "--remote-name-all",
            "--output-dir", "{out}", "-K", "{curl}"]  # fmt: skip
    peers = {
        "curl -Z --parallel-max 50": curl,
        "aiohttp_floor.py --save none": [*floor, "--save", "none"],
        "aiohttp_floor.py --save direct": [*floor, "--save", "direct"],
        "aiohttp_floor.py --save temp --report": [*floor, "--save", "temp", "--report"],
        "naive aiohttp script": [PY, str(HERE / "naive_aiohttp.py"), "{list}", "{out}"],
    }
    engines = {
        f"fetchall aiohttp --no-state ({label})": ["-e", "aiohttp", "--no-state"],
        f"fetchall aiohttp ({label})": ["-e", "aiohttp"],
        f"fetchall keepalive ({label})": ["-e", "keepalive"],
    }
    entries = [(Client(name, argv, {}, False), "none" not in name) for name, argv in peers.items()]
    entries += [
        (Client(name, [*fetchall, *extra], env, True), True) for name, extra in engines.items()
    ]
    return entries


def measure(entries: list[tuple[Client, bool]], urls: list[str], work: Path, rounds: int) -> None:
    """Interleaved rounds (the first untimed) of every client on ``urls``."""
    full = write_list(work, "list", urls)
    one = write_list(work, "one", urls[:1])
    empty = write_list(work, "empty", [])
    for round_no in range(rounds + 1):
        shift = round_no % len(entries)
        for client, saves in entries[shift:] + entries[:shift]:
            base_lists, base_n = (empty, 0) if client.base_empty else (one, 1)
            times = {}
            for (txt, curl), n in ((base_lists, base_n), (full, len(urls))):
                argv = [a.replace("{list}", str(txt)).replace("{curl}", str(curl))
                        for a in client.argv]  # fmt: skip
                times[n] = run(argv, client.env, work / "out", n if saves else 0)
            if round_no:
                net = times[len(urls)][1] - times[base_n][1]
                client.cpu.append(net / (len(urls) - base_n) * 1e6)
                client.wall.append(times[len(urls)][0])
            print(f"round {round_no}: {client.name}: {times[len(urls)][0]:.2f} s wall",
                  file=sys.stderr)  # fmt: skip


def main() -> None:
    """Parse options, serve the files, measure, print one Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", help="fetchall commit (COMMIT+mypyc: the compiled build)")
    parser.add_argument("--count", type=int, default=10_000, help="1 KiB files [10000]")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fa-aioparts-", dir="/dev/shm"))
    tree: Path | None = None
    try:
        tree = checkout(args.commit, work / "tree")
        print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, load at start {os.getloadavg()}")  # fmt: skip
        entries = clients(tree, args.commit)
        with nginx.serving(args.count, 1, base_dir="/dev/shm") as server:
            measure(entries, list(server.sets["small"].urls), work, args.rounds)
        print(f"\n### {args.count:,} × 1 KiB\n")
        print("| client | CPU µs/URL, median (min–max) | wall s, median (min–max) |")
        print("|---|---:|---:|")
        for client, _ in entries:
            print(f"| {client.name} | {span(client.cpu, '.0f')} | {span(client.wall, '.2f')} |")
        print(f"\nload at end {os.getloadavg()}")
    finally:
        if tree is not None:
            remove_worktree(tree)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
