"""Reference row for compare.py: create the files only, no network.

Writes COUNT files of SIZE bytes (one random buffer, written again and again) into OUT_DIR with a
plain ``open().write()`` each: the cost of creating the output on this disk, which every client
pays on top of HTTP.

    python benchmarks/write_only.py COUNT SIZE OUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def write_files(count: int, size: int, out: Path) -> None:
    """Create ``count`` files of ``size`` bytes named like the served ones."""
    out.mkdir(parents=True, exist_ok=True)
    body = os.urandom(size)
    width = max(5, len(str(count - 1)))
    for index in range(count):
        with open(out / f"{index:0{width}d}.bin", "wb") as handle:
            handle.write(body)


def main(argv: list[str]) -> int:
    """Entry point: ``write_only.py COUNT SIZE OUT``."""
    if len(argv) != 3:
        print("usage: write_only.py COUNT SIZE OUT_DIR", file=sys.stderr)
        return 2
    write_files(int(argv[0]), int(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
