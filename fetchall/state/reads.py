"""The store's reads for planning a crawl and a cluster run: whole-table questions asked a few
times per run (a level's start, a resumed crawl's scope, a cluster's plan), kept apart from the
writer's per-URL work in `fetchall.state.store`. A mixin of `StateStore`: it reads through the
store's connection, after writing the pending results (`_write_results`), so a URL that ended
never reads back as queued."""

from __future__ import annotations

import sqlite3


class PlanReads:
    """Reads for `fetchall.crawler` and `fetchall.cluster` (mixed into `StateStore`)."""

    _db: sqlite3.Connection

    def _write_results(self) -> None:
        raise NotImplementedError  # `StateStore` has it

    def known(self, url: str) -> bool:
        """Whether ``url`` is in the store (queued or ended)."""
        return self._db.execute("SELECT 1 FROM urls WHERE url = ?", (url,)).fetchone() is not None

    def queued_hosts(self) -> list[tuple[str, int]]:
        """``(host, queued URLs)`` of every host with queued URLs, by host (a cluster's plan)."""
        self._write_results()
        return list(
            self._db.execute(
                "SELECT host, COUNT(*) FROM urls WHERE state = 0 AND host IS NOT NULL "
                "GROUP BY host ORDER BY host"
            )
        )

    def seeds(self) -> list[tuple[str, str, str | None]]:
        """``(url, host, final URL or None)`` of the depth-0 URLs (a resumed crawl's scope;
        one scan)."""
        self._write_results()
        return list(
            self._db.execute(
                "SELECT url, host, final_url FROM urls WHERE depth = 0 AND url IS NOT NULL"
            )
        )

    def rows_per_host(self) -> dict[str, int]:
        """Rows per host (a resumed crawl's ``--max-per-host``; one scan)."""
        return dict(self._db.execute("SELECT host, COUNT(*) FROM urls GROUP BY host"))

    def shallowest_queued(self) -> int | None:
        """The smallest depth of a queued URL (where a resumed crawl goes on), or None."""
        self._write_results()
        (depth,) = self._db.execute("SELECT MIN(depth) FROM urls WHERE state = 0").fetchone()
        return None if depth is None else int(depth)
