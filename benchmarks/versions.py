"""CPU per URL of two commits side by side: did a change make an engine slower?

Each commit is checked out into a temporary git worktree, compiled (``.pyc`` in place), and run
from the project's venv with ``PYTHONPATH`` pointing at it (the import path is checked). Both
fetch the same ``--count`` × 1 KiB files from the private nginx (``nginx.py``), ``-e ENGINE -c 50
--per-host 50 -q``, outputs on /dev/shm, in interleaved rounds after one warm-up round; CPU per
URL = (CPU of the list run − CPU of an empty-list run of the same client) / N, from ``os.wait4``.

    .venv/bin/python benchmarks/versions.py 57ff383 HEAD --engines keepalive,asyncio --count 30000

A commit written ``COMMIT+mypyc`` (e.g. ``HEAD HEAD+mypyc``) runs with its optional compiled build
(``make compiled``), built in its worktree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nginx
from state_cost import run_once

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


MYPYC = "+mypyc"
"""A label suffix: ``HEAD+mypyc`` is HEAD with its optional mypyc build (``make compiled``)."""


def checkout(label: str, into: Path) -> Path:
    """A compiled worktree of the commit ``label`` names; its path. ``COMMIT+mypyc`` also
    builds the compiled modules in it (and checks that they are the ones imported)."""
    commit = label.removesuffix(MYPYC)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(into),
                    commit], check=True)  # fmt: skip
    compile_tree(into)
    if label.endswith(MYPYC):
        build_compiled(into)
    return into


def build_compiled(tree: Path) -> None:
    """Build the mypyc modules of ``tree`` in place; fail unless they are the ones imported."""
    env = {**os.environ, "FETCHALL_MYPYC": "1", "PYTHONPATH": str(tree)}
    env.pop("FETCHALL_PURE", None)
    subprocess.run([PY, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    probe = [PY, "-c", "from fetchall.build import running_build; print(running_build())"]
    found = subprocess.run(probe, env=env, cwd="/", capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    if found != "mypyc":
        raise SystemExit(f"{tree}: the compiled build is not the one imported ({found})")


def compile_tree(tree: Path) -> None:
    """Write the ``.pyc`` files of ``tree/fetchall`` and check that it is the one imported."""
    subprocess.run([PY, "-m", "compileall", "-q", str(tree / "fetchall")], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    probe = [PY, "-c", "import fetchall; print(fetchall.__file__)"]
    found = subprocess.run(probe, env=env, cwd="/", capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    if not found.startswith(str(tree)):
        raise SystemExit(f"{tree}: fetchall imported from {found}")


def remove_worktree(tree: Path) -> None:
    """Remove a worktree made by `checkout` (never fails: cleanup)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                   check=False)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--engines", default="keepalive")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--extra", default="", help="more fetchall options, e.g. --no-state")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fa-versions-", dir="/dev/shm"))
    trees = {}
    try:
        for label in (args.before, args.after):
            trees[label] = checkout(label, work / f"tree-{len(trees)}")
        clients = {
            (label, engine): [PY, "-m", "fetchall", "fetch", "{list}", "-e", engine, "-c", "50",
                              "--per-host", "50", "-q", *args.extra.split()]
            for engine in args.engines.split(",")
            for label in trees
        }  # fmt: skip
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in clients}
        wall: dict[tuple[str, str], list[float]] = {key: [] for key in clients}
        seq = 0
        with nginx.serving(args.count, 0, base_dir="/dev/shm") as server:
            full = server.list_path("small", "txt")
            empty = server.work / "lists" / "empty.txt"
            empty.write_text("")
            for round_no in range(args.rounds + 1):  # round 0: warm-up, not counted
                for (label, engine), argv in clients.items():
                    os.environ["PYTHONPATH"] = str(trees[label])
                    runs = {}
                    for listfile, expected in ((empty, 0), (full, args.count)):
                        seq += 1
                        filled = [str(listfile) if a == "{list}" else a for a in argv]
                        runs[expected] = run_once(filled, work / f"out-{seq}", expected, 600)
                    if round_no:
                        per_url = (runs[args.count][1] - runs[0][1]) / args.count * 1e6
                        cpu[label, engine].append(per_url)
                        wall[label, engine].append(runs[args.count][0])
                    print(f"round {round_no} {label} {engine}: {runs[args.count][0]:.2f} s",
                          file=sys.stderr)  # fmt: skip
        print(f"\n{args.count:,} × 1 KiB from nginx, -c 50 --per-host 50 {args.extra}, "
              f"{args.rounds} rounds (+1 warm-up), {os.cpu_count()} CPUs\n")  # fmt: skip
        print("| engine | commit | wall s, median (min–max) | CPU µs/URL, median (min–max) |")
        print("|---|---|---:|---:|")
        for label, engine in clients:
            w, c = wall[label, engine], cpu[label, engine]
            print(
                f"| `{engine}` | {label} | {statistics.median(w):.2f} ({min(w):.2f}–"
                f"{max(w):.2f}) | {statistics.median(c):.0f} ({min(c):.0f}–{max(c):.0f}) |"
            )
    finally:
        os.environ.pop("PYTHONPATH", None)
        for tree in trees.values():
            remove_worktree(tree)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
