"""Start-up CPU of ``fetchall fetch EMPTY -q``: whole processes, user+sys from ``os.wait4``.

The command is the venv's ``fetchall`` console script (``--entry module``: ``python -m
fetchall``). Each client is one source tree of the ``fetchall`` package, put first on
``PYTHONPATH`` (the import path is checked) and compiled first (``compileall``: ``.pyc`` in
place, so ``PYTHONDONTWRITEBYTECODE=1`` in the environment does not make every run recompile
the source). ``--ref COMMIT`` adds a client from a commit, extracted with ``git archive`` into a
temporary directory (read-only for the repository: no worktree, no checkout). Every client runs
once per round, in a rotating order, after one untimed warm-up round; the run reads an empty URL
list and writes into a fresh temporary directory (deleted after each run). Prints a Markdown
table: the median and min–max CPU seconds over the rounds, and the median user / sys split.

    .venv/bin/python benchmarks/startup.py --ref HEAD --rounds 11 -- -e keepalive
    .venv/bin/python benchmarks/startup.py --tree before=/tmp/old --rounds 11 -- -e keepalive
    .venv/bin/python benchmarks/startup.py --python-floor --rounds 9

Arguments after ``--`` are added to every fetchall command line. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from versions import compile_tree  # benchmarks/ is on the path: this script's directory

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
ENTRIES = {"script": [str(ROOT / ".venv" / "bin" / "fetchall")], "module": [PY, "-m", "fetchall"]}
TIMEOUT = 120.0
"""Seconds one run may take before it is killed (a start-up takes well under one)."""


def extract(ref: str, into: Path) -> Path:
    """The ``fetchall`` package of commit ``ref`` under ``into`` (via ``git archive``)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "fetchall"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(user s, sys s) of one run of ``argv``, which must exit 0."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise SystemExit(f"timed out: {argv}")
        time.sleep(0.002)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"exit {code}: {argv}\n{stderr}")
    return usage.ru_utime, usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                        help="a source tree holding fetchall/ (repeatable)")  # fmt: skip
    parser.add_argument("--ref", action="append", default=[], metavar="COMMIT",
                        help="a commit, extracted with git archive (repeatable)")  # fmt: skip
    parser.add_argument("--no-current", action="store_true", help="leave out this checkout")
    parser.add_argument("--python-floor", action="store_true",
                        help="also time `python -c pass` and `import typer`")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--entry", choices=sorted(ENTRIES), default="script")
    parser.add_argument("extra", nargs="*", help="more fetchall arguments (after --)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fa-startup-"))
    try:
        trees: dict[str, Path] = {} if args.no_current else {"current": ROOT}
        for spec in args.tree:
            label, _, path = spec.partition("=")
            trees[label] = Path(path).resolve()
        for ref in args.ref:
            trees[ref] = extract(ref, work / f"ref-{len(trees)}")
        for tree in trees.values():
            compile_tree(tree)
        empty = work / "empty.txt"
        empty.write_text("")
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        clients: dict[str, tuple[list[str], dict[str, str]]] = {
            label: ([*ENTRIES[args.entry], "fetch", str(empty), "-q", "-o", "out", *args.extra],
                    {**base_env, "PYTHONPATH": str(tree)})
            for label, tree in trees.items()
        }  # fmt: skip
        if args.python_floor:
            clients["python -c pass"] = ([PY, "-c", "pass"], base_env)
            clients["import typer"] = ([PY, "-c", "import typer"], base_env)
        cpu: dict[str, list[tuple[float, float]]] = {label: [] for label in clients}
        labels = list(clients)
        for round_no in range(args.rounds + 1):  # round 0: warm-up, not counted
            shift = round_no % len(labels)
            for label in labels[shift:] + labels[:shift]:
                argv, env = clients[label]
                cwd = Path(tempfile.mkdtemp(dir=work))
                usage = run_once(argv, env, cwd)
                shutil.rmtree(cwd)
                if round_no:
                    cpu[label].append(usage)
        load = os.getloadavg()
        extra = " ".join(args.extra) or "(none)"
        print(f"{args.rounds} rounds, entry {args.entry}; load average {load[0]:.2f} "
              f"{load[1]:.2f} {load[2]:.2f}; extra arguments: {extra}\n")  # fmt: skip
        print("| client | CPU s median (min–max) | user / sys s (medians) |")
        print("|---|---:|---:|")
        for label, runs in cpu.items():
            totals = [user + sys_ for user, sys_ in runs]
            user = statistics.median(u for u, _ in runs)
            sys_t = statistics.median(s for _, s in runs)
            spread = f"{min(totals):.3f}–{max(totals):.3f}"
            print(f"| {label} | {statistics.median(totals):.3f} ({spread}) | "
                  f"{user:.3f} / {sys_t:.3f} |")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
