"""The one record every input URL ends as: a `Result`, serialised as one JSONL report row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Result:
    """Outcome of one input URL (see README "Report")."""

    url: str
    engine: str
    ok: bool = False
    final_url: str | None = None
    status: int | None = None
    error_type: str | None = None
    error: str | None = None
    path: str | None = None
    bytes: int = 0
    content_type: str | None = None
    attempts: int = 0
    redirects: int = 0
    elapsed_ms: float = 0.0
    unchanged: bool = False
    # kept in the state store, not in the report:
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report row: field order is the documented one (every field is a plain value, so
        no deep copy is needed; ``dataclasses.asdict`` cost 8% of a small-file run)."""
        return {key: getattr(self, key) for key in REPORT_FIELDS}


REPORT_FIELDS: tuple[str, ...] = (
    "url",
    "final_url",
    "ok",
    "status",
    "error_type",
    "error",
    "path",
    "bytes",
    "content_type",
    "attempts",
    "redirects",
    "elapsed_ms",
    "engine",
    "unchanged",
)
