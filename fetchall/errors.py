"""One error hierarchy for every engine.

Strategy: each failure a URL can meet is a `FetchError` subclass with a stable, snake_case
`error_type` (the report's ``error_type`` field) and a `retryable` flag read by the retry policy.
Engines translate their library's exceptions into these at their boundary; nothing else escapes.
"""

from __future__ import annotations

from typing import ClassVar


class FetchError(Exception):
    """Base of every per-URL failure. ``str(err)`` is the one-line message shown to users."""

    error_type: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False


class BadURLError(FetchError):
    """The input line is not a fetchable http(s) URL."""

    error_type = "bad_url"


class InvalidRequestError(FetchError):
    """A request could not be encoded safely (e.g. control characters in a header)."""

    error_type = "bad_request"


class DNSError(FetchError):
    """The host name did not resolve."""

    error_type = "dns"


class ConnectError(FetchError):
    """The TCP connection could not be made (refused, unreachable)."""

    error_type = "connect"
    retryable = True


class ConnectionLostError(FetchError):
    """The connection was reset, or closed before any byte of the response arrived."""

    error_type = "connection_lost"
    retryable = True


class FetchTimeoutError(FetchError):
    """The connect timeout or the whole-attempt timeout expired."""

    error_type = "timeout"
    retryable = True


class TLSError(FetchError):
    """TLS handshake or certificate verification failed."""

    error_type = "tls"


class ProtocolError(FetchError):
    """The server broke HTTP framing (bad status line, short body, bad chunk, huge head...)."""

    error_type = "protocol"


class DecodingError(FetchError):
    """The Content-Encoding is unknown, or the compressed body is corrupt or truncated."""

    error_type = "decoding"


class TooLargeError(FetchError):
    """The decoded body exceeded ``max_size``."""

    error_type = "too_large"


class RedirectError(FetchError):
    """A redirect could not be followed (loop, too many, missing Location, bad scheme)."""

    error_type = "redirect"


class HTTPStatusError(FetchError):
    """The final response was not 2xx."""

    error_type = "http_status"


class RobotsError(FetchError):
    """robots.txt disallows the URL (or the host's robots.txt could not be read: RFC 9309
    §2.3.1.4 then disallows everything); the URL was not requested."""

    error_type = "robots"


class CooldownError(FetchError):
    """The host asked (Retry-After) for a pause longer than ``--retry-after-cap``; the URL was
    not requested, rather than requested earlier than the server asked."""

    error_type = "cooldown"


class CallbackError(FetchError):
    """A per-host callback raised or returned something invalid."""

    error_type = "callback"


class OutputError(FetchError):
    """The body could not be written to disk."""

    error_type = "output"


class InterruptedFetchError(FetchError):
    """The run was interrupted (Ctrl-C / SIGTERM) while this URL was in flight."""

    error_type = "interrupted"


class UsageError(Exception):
    """A bad option or unreadable input; the CLI prints it on one line and exits 2."""


def reason(exc: BaseException) -> str:
    """A short lower-case reason for an exception, for one-line messages: an OS error's
    ``strerror`` ("no space left on device"), else its text."""
    text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    return text[:1].lower() + text[1:]
