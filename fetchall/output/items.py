"""``DIR/items.jsonl``: the structured results a callback writes with ``Response.emit``.

Strategy: opened on the first item (a run that emits nothing leaves no file), truncated by a new
run and appended to by a resumed one; one JSON object a line, line-buffered, so each item is in
the file as soon as it is emitted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

ITEMS_NAME = "items.jsonl"


class ItemsWriter:
    """Writes emitted items to one JSONL file (see module docstring)."""

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self.path = path
        self.count = 0
        self._append = append
        self._stream: IO[str] | None = None

    def write(self, item: dict[str, Any]) -> None:
        """Write one item (a `TypeError` for a value JSON cannot hold, before anything is
        written)."""
        self.write_line(json.dumps(item, ensure_ascii=False, allow_nan=False) + "\n")

    def write_line(self, line: str) -> None:
        """Write one item already encoded as a JSON line (a cluster's worker sent it)."""
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            mode = "a" if self._append else "w"
            self._stream = open(self.path, mode, encoding="utf-8", buffering=1)  # noqa: SIM115
        self._stream.write(line)
        self.count += 1

    def close(self) -> None:
        """Close the file (if an item opened it)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
