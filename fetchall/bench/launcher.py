"""The tiny launcher between the bench and each measured child: spawns it, reaps it with
``os.wait4`` and writes its wall time, exit code, CPU and peak RSS as JSON.

Strategy: Linux charges a process, in ``ru_maxrss``, with the peak RSS of the image it had
*before* ``exec`` — for a child spawned straight from the bench, that is the whole bench process
(server thread, rich, maybe matplotlib), so every engine would show the bench's own size. This
script runs as ``python -I -S launcher.py RESULT -- ARGV...`` (standard library only, no
``fetchall`` import, about 9 MiB), so the measured child starts from a small image and its
``ru_maxrss`` is its own. Wall time is taken here around spawn and reap. The bench enforces the
deadline by killing the launcher's whole process group; a killed launcher writes nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(args: list[str]) -> int:
    """``RESULT -- ARGV...``: run ARGV, write the measurement to RESULT; 0, or 2 on misuse."""
    if len(args) < 3 or args[1] != "--":
        print("usage: launcher.py RESULT -- ARGV...", file=sys.stderr)
        return 2
    result_path, argv = args[0], args[2:]
    started = time.perf_counter()
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ)
    except OSError as exc:
        record: dict[str, object] = {"error": f"cannot start {argv[0]}: {exc}"}
    else:
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - started
        record = {
            "wall_s": wall,
            "exit_code": os.waitstatus_to_exitcode(status),
            "utime_s": usage.ru_utime,
            "stime_s": usage.ru_stime,
            "maxrss": usage.ru_maxrss,
        }
    with open(result_path, "w", encoding="utf-8") as stream:
        json.dump(record, stream)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
