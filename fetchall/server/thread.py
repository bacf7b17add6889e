"""Running the built-in test server: `ServerThread` (a private event loop in a daemon thread, every
wait in start and stop bounded, loopback addresses only), `serve_forever` for `fetchall serve`,
and `demo_urls` for `fetchall demo`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator

from aiohttp import web

from fetchall.server.app import ServerSettings, make_app
from fetchall.server.stats import RobotsFile, ServerStats, Versions

_LOOPBACK = {"127.0.0.1": "127.0.0.1", "::1": "::1", "localhost": "127.0.0.1"}
_START_TIMEOUT = 10.0
_JOIN_TIMEOUT = 5.0
_SHUTDOWN_GRACE = 0.25  # in-flight handlers get this long before being cancelled on stop


class ServerThread:
    """Runs `make_app` on its own event loop in a daemon thread, on 127.0.0.1 or ::1."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        app: Callable[[], web.Application] | None = None,
    ) -> None:
        """``app``: serve this app instead of the built-in server's (the crawl site)."""
        if host not in _LOOPBACK:
            raise ValueError(f"host must be one of {', '.join(_LOOPBACK)} (loopback only)")
        if not 0 <= port <= 65535:
            raise ValueError("port must be from 0 to 65535")
        self._host = _LOOPBACK[host]
        self._requested_port = port
        self._settings = ServerSettings(latency, jitter)
        self._ssl = ssl_context
        self.stats = ServerStats()
        self.robots = RobotsFile()
        self.versions = Versions()
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._app = app

    @property
    def base_url(self) -> str:
        """`http(s)://host:port` of the running server (IPv6 hosts bracketed)."""
        if not self.port:
            raise RuntimeError("server not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._ssl else 'http'}://{host}:{self.port}"

    def url(self, path: str) -> str:
        """Return base_url + path (a leading "/" is added if missing)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def start(self) -> ServerThread:
        """Start serving; return once listening (or raise why it could not)."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name="fetchall-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            self.stop()
            raise RuntimeError("server did not start in time")
        if self._error is not None:
            self._thread.join(_JOIN_TIMEOUT)
            raise RuntimeError(f"server failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then join the thread (bounded wait)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_JOIN_TIMEOUT)

    def wait(self) -> None:
        """Block until the server thread ends (interruptible by Ctrl-C)."""
        while self._thread is not None and self._thread.is_alive():  # ends with the server
            self._thread.join(0.5)

    def __enter__(self) -> ServerThread:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:  # reported to start() in the calling thread
            self._error = exc
        self._ready.set()
        try:
            if self._error is None:
                loop.run_forever()
        finally:
            loop.run_until_complete(self._close())
            _cancel_pending(loop)
            loop.close()

    async def _open(self) -> None:
        if self._app is not None:
            app = self._app()
        else:
            app = make_app(self._settings, self.stats, self.robots, self.versions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE)
        await self._runner.setup()
        handler, stats = self._runner.server, self.stats
        assert handler is not None

        def protocol() -> asyncio.BaseProtocol:  # called once per accepted TCP connection
            stats.connection_accepted()
            return handler()

        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            protocol, self._host, self._requested_port, ssl=self._ssl, backlog=1024
        )
        self.port = int(self._listener.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._runner.cleanup(), _JOIN_TIMEOUT / 2)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
    loop.run_until_complete(loop.shutdown_asyncgens())


def serve_forever(host: str, port: int, latency: float, jitter: float) -> None:
    """Serve until Ctrl-C (blocking), printing one line `serving on <base_url>`."""
    server = ServerThread(host=host, port=port, latency=latency, jitter=jitter).start()
    print(f"serving on {server.base_url}", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def serve_site_forever() -> None:
    """Serve the crawl demo site until Ctrl-C, printing one line naming both hosts."""
    site = SiteThread().start()
    print(f"serving the demo site on {site.site.a} and {site.site.b}", flush=True)
    try:
        site.a.wait()
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()


def demo_urls(base_url: str, template_lines: Iterable[str]) -> Iterator[str]:
    """Yield each URL line of a template with `{server}` replaced by base_url.

    Blank lines and `#` comments are skipped; surrounding whitespace is stripped.
    """
    base = base_url.rstrip("/")
    for line in template_lines:
        text = line.strip()
        if text and not text.startswith("#"):
            yield text.replace("{server}", base)


class SiteThread:
    """The two-host crawl site (`fetchall.server.site`) on two `ServerThread`s."""

    def __init__(self) -> None:
        from fetchall.server.site import SiteMap, make_site_app

        self.site = SiteMap()
        site = self.site
        self.a = ServerThread(app=lambda: make_site_app(site, "a"))
        self.b = ServerThread(app=lambda: make_site_app(site, "b"))

    def start(self) -> SiteThread:
        """Start both hosts."""
        self.site.a = self.a.start().base_url
        try:
            self.site.b = self.b.start().base_url
        except BaseException:
            self.a.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both hosts."""
        self.a.stop()
        self.b.stop()

    def __enter__(self) -> SiteThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
