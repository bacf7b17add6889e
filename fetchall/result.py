"""The one record every input URL ends as: a `Result`, serialised as one JSONL report row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Result:
    """Outcome of one input URL: one row of the JSONL report (``to_dict``), in the same order
    as the report's fields (see "The report" in the docs' Fetching lists page)."""

    url: str
    """The URL as given."""
    engine: str
    """The engine's name."""
    ok: bool = False
    """A final 2xx response whose body was saved (or handled by a callback)."""
    final_url: str | None = None
    """The normalised URL after redirects (None for a bad line)."""
    status: int | None = None
    """The final HTTP status, or None if none arrived."""
    error_type: str | None = None
    """None, or a stable snake_case error type: ``bad_url``, ``dns``, ``timeout``,
    ``http_status``, ``robots``..."""
    error: str | None = None
    """One-line message."""
    path: str | None = None
    """The saved file, relative to the output directory, or None."""
    bytes: int = 0
    """Decoded body bytes saved."""
    content_type: str | None = None
    """The response's Content-Type."""
    attempts: int = 0
    """HTTP attempts made (all hops and retries)."""
    redirects: int = 0
    """Redirects followed."""
    elapsed_ms: float = 0.0
    """Wall time for this URL, in milliseconds."""
    unchanged: bool = False
    """True for a ``304 Not Modified`` answer to a refresh: the file was kept as it was."""
    depth: int | None = None
    """A crawl's row: the link distance from a seed (0 for a seed); None (and not in the
    report) outside a crawl."""
    parent: str | None = None
    """A crawl's row: the URL of a page one level up that links to this one (null for a
    seed)."""
    # kept in the state store, not in the report:
    sha256: str | None = None
    """SHA-256 of the saved body (kept in the state store, not in the report)."""
    etag: str | None = None
    """The response's ETag (kept in the state store for a refresh, not in the report)."""
    last_modified: str | None = None
    """The response's Last-Modified (kept in the state store for a refresh, not in the
    report)."""

    def to_dict(self) -> dict[str, Any]:
        """The report row: field order is the documented one (every field is a plain value, so
        no deep copy is needed; ``dataclasses.asdict`` cost 8% of a small-file run)."""
        row = {key: getattr(self, key) for key in REPORT_FIELDS}
        if self.depth is not None:
            row["depth"], row["parent"] = self.depth, self.parent
        return row


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
