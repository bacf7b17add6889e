"""Where a fetchall run's busy time goes, from a py-spy raw profile: by kind and by module.

Record one run with native frames (py-spy is not a dependency: ``pip install py-spy``), from a
directory that does not shadow the tree you mean to profile:

    cd / && PYTHONPATH=TREE py-spy record --native -r 400 --format raw -o prof.txt -- \\
        VENV/bin/python -m fetchall fetch LIST -e keepalive -c 50 --per-host 50 -q -o OUT
    .venv/bin/python benchmarks/spy_parts.py prof.txt

Idle samples (the report flusher waiting on its lock, the loop in ``epoll_wait``) are dropped.
Each busy sample counts once: by the kind of its innermost frame (a syscall, SQLite, regex,
garbage collection, JSON, fetchall's own code, or the rest: interpreter, objects, the loop), and
by the innermost fetchall module on its stack (a ``.py`` file, or a mypyc-compiled function
``CPyDef_<module>___...`` of the optional build). Shares only: py-spy pauses the process to
unwind native stacks, so its sample counts are not CPU time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = ("lock_PyThread_acquire_lock", "pthread_cond_timedwait", "epoll_wait", "epoll_pwait")
SYSCALLS = {
    "write", "writev", "read", "open64", "openat64", "close", "rename", "unlink", "connect",
    "pwrite64", "pread64", "fdatasync", "fsync", "lseek64", "fstat64", "stat64", "lstat64",
    "getpid", "mkdir", "epoll_ctl", "sendto", "recvfrom",
}  # fmt: skip
PY_FRAME = re.compile(r"\(fetchall/([\w/]+)\.py:\d+\)")
COMPILED_FRAME = re.compile(r"CPy(?:Def|Py|Dunder)\w*?_(\w+?)___")


def stacks(path: Path) -> list[tuple[list[str], int]]:
    """The busy ``(frames, samples)`` of a raw profile, outermost frame first."""
    busy = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if stack and not any(frame.startswith(IDLE) for frame in frames[-4:]):
            busy.append((frames, int(count)))
    return busy


def kind(frames: list[str]) -> str:
    """What the innermost frame is."""
    leaf = frames[-1]
    name = leaf.split(" (")[0]
    if name in SYSCALLS:
        return f"syscall {name}"
    if name.startswith("sqlite3") or "libsqlite" in leaf:
        return "SQLite (C)"
    if name.startswith(("sre_", "pattern_")):
        return "regex (C)"
    if any("gc_collect" in frame for frame in frames[-3:]):
        return "garbage collection"
    if name.startswith("encoder_") or "_json" in leaf:
        return "json (C)"
    if PY_FRAME.search(leaf) or "__native_compiled" in leaf:
        return "fetchall's own code (Python, or compiled)"
    return "interpreter, objects, the loop, other C"


def module(frames: list[str]) -> str:
    """The innermost fetchall module on the stack."""
    for frame in reversed(frames):
        if found := PY_FRAME.search(frame):
            return found.group(1)
        if found := COMPILED_FRAME.match(frame):
            return f"{found.group(1)} (compiled)"
    return "(no fetchall frame: start-up, loop internals)"


def table(title: str, counts: Counter[str], total: int, top: int) -> None:
    """Print one Markdown table of shares."""
    print(f"\n| {title} | share of busy samples |\n|---|---:|")
    for name, count in counts.most_common(top):
        print(f"| {name} | {100 * count / total:.1f}% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    busy = stacks(args.profile)
    total = sum(count for _, count in busy)
    kinds: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for frames, count in busy:
        kinds[kind(frames)] += count
        modules[module(frames)] += count
    print(f"{args.profile}: {total} busy samples")
    table("innermost frame", kinds, total, args.top)
    table("innermost fetchall module", modules, total, args.top)


if __name__ == "__main__":
    main()
