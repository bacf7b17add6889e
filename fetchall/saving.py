"""From an engine's `Final` to a saved file and a report `Result` (the runner calls it for every
URL that ends, in the coordinating thread).

Strategy: a complete 2xx body is handed to the host's callback, if any (`decide_path`: keep it
where the URL says, elsewhere, or nowhere), then committed atomically into the output directory;
any failure on the way fails the URL, never the run, and leaves no file. A ``304 Not Modified``
to a conditional request (``--refresh``) keeps the file the earlier fetch saved: an ok row with
``unchanged``, that file's path and size. A URL whose final URL this run saved already shares
that file (`shared`). The validators of the response (``ETag``, ``Last-Modified``) and the
SHA-256 of the saved body go into the `Result` for the state store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fetchall.callbacks import CallbackRegistry, Response, decide_path
from fetchall.errors import CallbackError, FetchError, OutputError
from fetchall.frontier import Entry
from fetchall.output.bodyfile import BodyFile
from fetchall.output.paths import url_to_relpath
from fetchall.output.writer import OutputDir
from fetchall.policy import Conditional, Final, Outcome
from fetchall.result import Result
from fetchall.state.schema import Saved
from fetchall.urls import Target

if TYPE_CHECKING:  # the crawl's modules (and selectolax) are imported only by a crawl
    from fetchall.crawler.pages import Crawler, PageLinks
    from fetchall.output.items import ItemsWriter


def conditional_for(entry: Entry, root: Path) -> Conditional | None:
    """The validators ``--refresh`` sends for ``entry``: those of its earlier fetch, if it saved
    a file that is still there (a file gone, or a callback's SKIP, means fetching it whole)."""
    if entry.final_url is None or (entry.etag is None and entry.last_modified is None):
        return None
    if entry.path is None or not (root / entry.path).is_file():
        return None
    return Conditional(entry.final_url, entry.etag, entry.last_modified)


class Saver:
    """Saves bodies and builds result rows for one run."""

    def __init__(
        self,
        out: OutputDir,
        callbacks: CallbackRegistry,
        engine: str,
        enqueue: Callable[[str], None],
        *,
        crawler: Crawler | None = None,
        items: ItemsWriter | None = None,
    ) -> None:
        self.out = out
        self.callbacks = callbacks
        self.engine = engine
        self.enqueue = enqueue
        self.crawler = crawler
        self.items = items

    def result(self, entry: Entry, final: Final, started: float) -> Result:
        """The row of ``entry``, which ended as ``final`` (its body saved or discarded)."""
        outcome = final.outcome
        result = Result(
            url=entry.text,
            engine=self.engine,
            final_url=final.request.target.url,
            attempts=final.attempts,
            redirects=final.redirects,
            elapsed_ms=round((time.monotonic() - started) * 1000, 3),
        )
        error = final.error
        if outcome is not None:
            result.status = outcome.status
            headers = outcome.headers
            result.content_type = headers.get("content-type")
            result.etag, result.last_modified = headers.get("etag"), headers.get("last-modified")
            if error is None and outcome.status == 304:  # a conditional request: unchanged
                result.ok, result.unchanged = True, True
                result.path, result.bytes = entry.path, entry.bytes
                return result
        body = outcome.body if outcome is not None else None
        if error is None and isinstance(body, BodyFile):
            try:
                result.path = self._save(entry, final, outcome, body)
                result.bytes = body.size if result.path is not None else 0
                result.sha256 = body.sha256 if result.path is not None else None
                result.ok = True
            except FetchError as exc:
                error = exc
        elif isinstance(body, BodyFile):
            body.discard()
        if error is not None:
            result.error_type, result.error = error.error_type, str(error)
        return result

    def shared(
        self, entry: Entry, saved: Saved, started: float, attempts: int = 0, redirects: int = 0
    ) -> Result:
        """The row of ``entry``, whose final URL this run saved already: it shares that file
        (fetched once)."""
        return Result(
            url=entry.text, engine=self.engine, ok=True, final_url=saved.final_url,
            status=saved.status, path=saved.path, bytes=saved.bytes,
            content_type=saved.content_type, attempts=attempts, redirects=redirects,
            elapsed_ms=round((time.monotonic() - started) * 1000, 3), sha256=saved.sha256,
            etag=saved.etag, last_modified=saved.last_modified,
        )  # fmt: skip

    def _save(
        self, entry: Entry, final: Final, outcome: Outcome | None, body: BodyFile
    ) -> str | None:
        """Run the host's callback (if any) and a crawl's link following, then commit the body
        where the callback says (nowhere for its SKIP, or a crawl's ``--spider``)."""
        assert outcome is not None and outcome.status is not None
        target = final.request.target
        relpath: str | None = url_to_relpath(target)
        crawler = self.crawler
        links = None
        if crawler is not None and crawler.wants(entry, outcome.headers.get("content-type")):
            links = crawler.links_for(body.path, target)
        following = True
        callback = self.callbacks.match(target.host)
        if callback is not None:
            response = self._response(entry, target, outcome, body, links)
            try:
                relpath = decide_path(callback, response, relpath or "")
            except CallbackError:
                body.discard()
                raise
            following = response.following
        if crawler is not None and links is not None:
            crawler.page(entry, target, outcome.headers, links, follow=following)
        if relpath is None or (crawler is not None and crawler.settings.spider):
            body.discard()  # SKIP, or a crawl's --spider: no file
            return None
        try:
            return self.out.commit(body, relpath, target.url)
        except OutputError:
            raise
        except OSError as exc:
            body.discard()
            raise OutputError(f"cannot save {relpath}: {exc}") from None

    def _response(
        self,
        entry: Entry,
        target: Target,
        outcome: Outcome,
        body: BodyFile,
        links: PageLinks | None,
    ) -> Response:
        """The `Response` a callback gets; in a crawl, ``follow`` takes URLs at the next depth
        and ``links`` shares the crawler's parse."""
        assert outcome.status is not None
        crawler = self.crawler
        if crawler is not None:
            enqueue: Callable[[str], None] = lambda url: crawler.follow(entry, [url])  # noqa: E731
        else:
            enqueue = self.enqueue
        return Response(
            url=entry.target.url, final_url=target.url, status=outcome.status,
            reason=outcome.reason, headers=outcome.headers, host=target.host,
            body_path=body.path, size=body.size, enqueue=enqueue, depth=entry.depth,
            page=None if links is None else (lambda: links.page),
            emit=None if self.items is None else self.items.write,
        )  # fmt: skip
