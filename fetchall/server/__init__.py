"""The built-in aiohttp.web test server used by `fetchall serve`, the demo, tests and benchmarks.

`app` builds the application (routes, deterministic bodies, encodings, latency, stats);
`thread` runs it on a private event loop in a daemon thread.
"""

from fetchall.server.app import ServerSettings, body_bytes, iter_body, make_app
from fetchall.server.stats import RobotsFile, ServerStats, Versions
from fetchall.server.thread import ServerThread, demo_urls, serve_forever

__all__ = [
    "RobotsFile",
    "ServerSettings",
    "ServerStats",
    "ServerThread",
    "Versions",
    "body_bytes",
    "demo_urls",
    "iter_body",
    "make_app",
    "serve_forever",
]
