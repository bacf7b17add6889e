"""Per-host callbacks: the registry, the ``@on_host`` decorator, the `Response` they receive.

Strategy: a `CallbackRegistry` maps host patterns to plain functions. Lookup order: exact host,
then the longest matching ``*.suffix`` wildcard, then ``"*"``. ``@on_host`` registers into the
registry that is *active*: the process-wide default, or a fresh one while `load_callbacks_file`
executes a ``--callbacks FILE.py``. The runner calls callbacks in its coordinating thread, one at a
time, with a `Response` whose body stays on disk until the callback asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from fetchall.errors import CallbackError, UsageError
from fetchall.http.headers import Headers
from fetchall.output.paths import safe_relpath

if TYPE_CHECKING:  # imported only when a page is parsed
    from fetchall.crawler.links import Page


class _Skip:
    """Sentinel type of `SKIP`."""

    _instance: _Skip | None = None

    def __new__(cls) -> _Skip:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Final = _Skip()
"""Return this from a callback to keep nothing on disk (the row is still ``ok``)."""

CallbackResult = str | _Skip | None
"""What a callback returns: a relative path to save the body under, None (default saving) or
`SKIP` (keep nothing)."""
Callback = Callable[["Response"], CallbackResult]
"""A per-host callback: a function of a `Response` that returns a `CallbackResult`."""


class Response:
    """A complete 2xx response handed to a callback. The decoded body is on disk, not in memory.

    Attributes:
        url: The URL as given in the input.
        final_url: The URL that answered, after redirects.
        status: The HTTP status (2xx).
        reason: The reason phrase of the status line.
        headers: The response headers; ``get(name)`` and ``get_all(name)`` ignore case.
        host: The host of ``final_url``.
        body_path: Where the decoded body is (a temporary file: read it, do not keep the path).
        size: The decoded body's size in bytes.
        depth: In a crawl, the link distance from a seed (0 outside a crawl).
        following: In a crawl, whether this page's links will be followed (see
            `stop_following`).
    """

    def __init__(
        self,
        *,
        url: str,
        final_url: str,
        status: int,
        reason: str,
        headers: Headers,
        host: str,
        body_path: Path,
        size: int,
        enqueue: Callable[[str], None],
        depth: int = 0,
        page: Callable[[], Page] | None = None,
        emit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.url = url
        self.final_url = final_url
        self.status = status
        self.reason = reason
        self.headers = headers
        self.host = host
        self.body_path = body_path
        self.size = size
        self.depth = depth
        self.following = True
        self._enqueue = enqueue
        self._page = page
        self._emit = emit

    @property
    def content_type(self) -> str | None:
        """The Content-Type header, if any."""
        return self.headers.get("content-type")

    def open(self) -> IO[bytes]:
        """Open the decoded body for streaming reads (the caller closes it)."""
        return self.body_path.open("rb")

    def read(self) -> bytes:
        """The whole decoded body (loads it into memory: prefer `open` for big bodies)."""
        return self.body_path.read_bytes()

    def text(self, encoding: str | None = None) -> str:
        """The body as text: ``encoding``, else the Content-Type charset, else UTF-8."""
        return self.read().decode(encoding or self._charset() or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        import json

        return json.loads(self.read())

    def enqueue(self, url: str) -> None:
        """Fetch ``url`` too, in this run (deduplicated like input lines); in a crawl, at the
        next depth with this page as its parent (the crawl's limits apply, its scope not)."""
        self._enqueue(url)

    def follow(self, url: str) -> None:
        """The same as `enqueue` (the name a crawl script reads best with)."""
        self._enqueue(url)

    def links(self) -> list[str]:
        """The absolute http(s) URLs of the page's links, in document order, before any crawl
        rule (an HTML5 parse of the body, shared with the crawl; empty if it is not HTML)."""
        page = self._parsed()
        return [] if page is None else [link.url for link in page.links]

    def title(self) -> str | None:
        """The text of the page's ``<title>``, whitespace collapsed (None if it has none or
        is not HTML)."""
        page = self._parsed()
        return None if page is None else page.title

    def _parsed(self) -> Page | None:
        if self._page is not None:
            return self._page()
        from fetchall.crawler.links import extract, is_html

        if not is_html(self.content_type):
            return None
        with self.open() as stream:
            body = stream.read(min(16 << 20, self.size))
        page = extract(body, self.final_url)
        self._page = lambda: page
        return page

    def stop_following(self) -> None:
        """In a crawl: do not follow this page's links (URLs passed to `follow` still are)."""
        self.following = False

    def emit(self, item: dict[str, Any]) -> None:
        """Write ``item`` (a JSON object) as one line of ``DIR/items.jsonl``, now."""
        if not isinstance(item, dict):
            raise TypeError(f"emit takes a dict (one JSON object), got {type(item).__name__}")
        if self._emit is None:
            raise RuntimeError("emit is not available here")
        self._emit(item)

    def _charset(self) -> str | None:
        for part in (self.content_type or "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.final_url} {self.size} bytes>"


class CallbackRegistry:
    """Host pattern → callback. Patterns: ``"host"``, ``"*.example.com"``, ``"*"``."""

    def __init__(self, callbacks: Mapping[str, Callback] | None = None) -> None:
        self._exact: dict[str, Callback] = {}
        self._suffix: dict[str, Callback] = {}
        self._any: Callback | None = None
        for pattern, func in (callbacks or {}).items():
            self.add(pattern, func)

    def add(self, pattern: str, func: Callback) -> None:
        """Register ``func`` for ``pattern`` (a later registration of a pattern replaces it)."""
        pattern = pattern.strip().lower().rstrip(".")
        if not callable(func):
            raise TypeError(f"callback for {pattern!r} is not callable")
        if pattern == "*":
            self._any = func
        elif pattern.startswith("*."):
            self._suffix[pattern[1:]] = func
        elif pattern and "*" not in pattern:
            self._exact[pattern] = func
        else:
            raise ValueError(f"bad host pattern {pattern!r}: use 'host', '*.domain' or '*'")

    def match(self, host: str) -> Callback | None:
        """The callback for ``host``, or None."""
        host = host.lower().rstrip(".")
        found = self._exact.get(host)
        if found is not None:
            return found
        if self._suffix:
            dot = host.find(".")
            while dot != -1:
                found = self._suffix.get(host[dot:])
                if found is not None:
                    return found
                dot = host.find(".", dot + 1)
        return self._any

    def wrapped(self, wrap: Callable[[Callback], Callback]) -> CallbackRegistry:
        """A registry with the same patterns, each callback passed through ``wrap``."""
        other = CallbackRegistry()
        other._exact = {key: wrap(func) for key, func in self._exact.items()}
        other._suffix = {key: wrap(func) for key, func in self._suffix.items()}
        other._any = None if self._any is None else wrap(self._any)
        return other

    def __bool__(self) -> bool:
        return bool(self._exact or self._suffix or self._any)

    def __len__(self) -> int:
        return len(self._exact) + len(self._suffix) + (self._any is not None)


default_registry = CallbackRegistry()
_active: list[CallbackRegistry] = [default_registry]


def decide_path(callback: Callback, response: Response, default: str) -> str | None:
    """Run ``callback`` on ``response``: the relative path to save the body under (``default``
    when it returns None), or None for `SKIP`. A callback that raises, returns an unsafe path or
    something else fails this URL only: `CallbackError`."""
    try:
        decision = callback(response)
    except Exception as exc:  # user code: fails this URL only
        raise CallbackError(f"callback raised {type(exc).__name__}: {exc}") from None
    if decision is None:
        return default
    if decision is SKIP:
        return None
    if isinstance(decision, str):
        try:
            return safe_relpath(decision)
        except ValueError as exc:
            raise CallbackError(f"callback returned an unsafe path: {exc}") from None
    raise CallbackError(f"callback returned {decision!r}; expected None, a relative path or SKIP")


def on_host(pattern: str) -> Callable[[Callback], Callback]:
    """Decorator: run the function for every complete 2xx response from hosts matching ``pattern``.

    The function gets a `Response` and returns None (default saving), a relative path to save
    under (kept inside the output directory), or `SKIP`.
    """

    def register(func: Callback) -> Callback:
        _active[-1].add(pattern, func)
        return func

    return register


@contextmanager
def collecting_into(registry: CallbackRegistry) -> Iterator[CallbackRegistry]:
    """While active, ``@on_host`` registers into ``registry``."""
    _active.append(registry)
    try:
        yield registry
    finally:
        _active.pop()


def load_callbacks_file(path: str | Path) -> CallbackRegistry:
    """Execute a callbacks file and return the registry its ``@on_host`` calls filled.

    Any failure (missing file, syntax error, exception at import) is a `UsageError`.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--callbacks: no such file: {path}")
    import runpy  # only --callbacks needs it: not at start-up

    registry = CallbackRegistry()
    with collecting_into(registry):
        try:
            runpy.run_path(str(path), run_name="fetchall_callbacks")
        except Exception as exc:  # user code: any failure is a usage error
            raise UsageError(f"--callbacks {path}: {type(exc).__name__}: {exc}") from None
    if not registry:
        raise UsageError(f"--callbacks {path}: no @on_host callbacks registered")
    return registry
