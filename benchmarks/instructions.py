"""User-space instructions per URL of two commits side by side (valgrind callgrind): a
deterministic complement to CPU time on this noisy, shared machine.

CPU time per URL moves by ±10–15% from run to run here, so a 5% change in fetchall's own code
needs many rounds to show. Instruction counts do not move with the machine's load: they count
what the Python side executes (user space only — no kernel, no cache misses, no scheduling), so
they judge changes to fetchall's code, and CPU time (``speed.py``, ``versions.py``) judges the
whole. Under valgrind a run is about 50 times slower, which changes how responses batch per
loop iteration; both commits run under the same conditions.

Each commit is checked out into a compiled worktree (``versions.checkout``); the private nginx
(``nginx.py``) serves ``--count`` distinct 1 KiB files; each engine of each commit fetches the
list and an empty list once under ``valgrind --tool=callgrind --trace-children=yes`` (``-c 50
--per-host 50 -q``, outputs on /dev/shm, verified); the instructions of every process of a run
(pool workers included) are summed; per URL = (list run − empty run) / N.

    .venv/bin/python benchmarks/instructions.py bcf40da HEAD --engines keepalive,aiohttp
    .venv/bin/python benchmarks/instructions.py HEAD HEAD+mypyc   # pure against compiled
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nginx
from state_cost import saved_files
from versions import PY, checkout, remove_worktree

ENGINES = "blocking,threads,polling,select,generator,asyncio,aiohttp,keepalive"
"""Every engine but ``processes``: its pool starts its workers only once there are URLs, each
an interpreter importing fetchall (hundreds of millions of instructions, not in the empty-list
run), and how many start depends on timing, which valgrind changes: its figure is mostly that."""
_COLLECTED = re.compile(rb"Collected : (\d+)")


def instructions(argv: list[str], tree: Path, out: Path, expected: int) -> int:
    """User instructions of one verified run of ``argv`` (every process of it)."""
    shutil.rmtree(out, ignore_errors=True)
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                "--trace-children=yes"]  # fmt: skip
    proc = subprocess.run(
        [*valgrind, *argv, "-o", str(out)], env={**os.environ, "PYTHONPATH": str(tree)},
        cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=3600, check=False,
    )  # fmt: skip
    files = saved_files(out)
    shutil.rmtree(out, ignore_errors=True)
    counts = [int(n) for n in _COLLECTED.findall(proc.stderr)]
    if proc.returncode != 0 or files != expected or not counts:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"bad run (exit {proc.returncode}, {files} files): {argv}\n{tail}")
    return sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--engines", default=ENGINES)
    parser.add_argument("--count", type=int, default=2_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fa-instructions-", dir="/dev/shm"))
    trees: dict[str, Path] = {}
    per_url: dict[tuple[str, str], float] = {}
    engines = args.engines.split(",")
    try:
        for label in (args.before, args.after):
            trees[label] = checkout(label, work / f"tree-{len(trees)}")
        with nginx.serving(args.count, 0, base_dir="/dev/shm") as server:
            full = server.list_path("small", "txt")
            empty = server.work / "lists" / "empty.txt"
            empty.write_text("")
            for engine in engines:
                for label, tree in trees.items():
                    argv = [PY, "-m", "fetchall", "fetch", "{list}", "-e", engine, "-c", "50",
                            "--per-host", "50", "-q"]  # fmt: skip
                    runs = [
                        instructions([str(lst) if a == "{list}" else a for a in argv], tree,
                                     work / "out", n)
                        for lst, n in ((empty, 0), (full, args.count))
                    ]  # fmt: skip
                    per_url[label, engine] = (runs[1] - runs[0]) / args.count
                    print(f"{engine} {label}: {per_url[label, engine] / 1000:.0f} k/URL",
                          file=sys.stderr)  # fmt: skip
    finally:
        for tree in trees.values():
            remove_worktree(tree)
        shutil.rmtree(work, ignore_errors=True)
    before, after = args.before, args.after
    print(f"\n{args.count:,} × 1 KiB from nginx, -c 50 --per-host 50 -q, user instructions per "
          f"URL (callgrind, every process), {os.cpu_count()} CPUs\n")  # fmt: skip
    print(f"| engine | {before}: k instr/URL | {after}: k instr/URL | change |")
    print("|---|---:|---:|---:|")
    for engine in engines:
        b, a = per_url[before, engine], per_url[after, engine]
        print(f"| `{engine}` | {b / 1000:,.0f} | {a / 1000:,.0f} | {(a - b) / b:+.1%} |")


if __name__ == "__main__":
    main()
