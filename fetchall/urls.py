"""URL parsing, normalisation and redirect resolution (pure: no I/O).

Strategy: a single hand-written pass instead of `urllib.parse.urlsplit` (which accepts far too
much): split ``scheme://authority`` off by hand, validate the host strictly (DNS labels after
IDNA, dotted-quad IPv4, bracketed IPv6 via `ipaddress`), then percent-encode the path and query
with one precompiled regex and remove dot segments only when ``/.`` occurs. Every rejection is a
`BadURLError` with a specific one-line message. The normalised form is a fixed point:
``parse_url(t.url).url == t.url``. Reading URL-list files lives in `fetchall.urllists`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from fetchall.caches import BoundedCache
from fetchall.errors import BadURLError, RedirectError
from fetchall.pickling import rebuild_args

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}
MAX_URL_LENGTH = 65_536  # characters; longer lines are reported as bad URLs
MAX_BAD_TEXT = 200  # BadLine.text is truncated to this many characters

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_SCHEME_PREFIX_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_AUTHORITY_END_RE = re.compile(r"[/?#]")
_HOST_RE = re.compile(r"[a-z0-9_\-]{1,63}(?:\.[a-z0-9_\-]{1,63})*\.?\Z")
_NUMERIC_LABEL_RE = re.compile(r"(?:[0-9]+|0[xX][0-9A-Fa-f]*)\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}\Z")  # canonical dotted quad
# Runs of characters that may not appear raw in a path/query, or a "%" not starting "%XX".
_UNSAFE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%\[\]]+")
_PCT = tuple(f"%{b:02X}" for b in range(256))
_LATIN1_RE = re.compile(r"[\x00-\xff]*")
_HIGH_BYTE_RE = re.compile(r"[\x80-\xff]")
_IDNA_DOTS_RE = re.compile("[.\u3002\uff0e\uff61]")  # the label separators of IDNA
_IDNA_REASON_RE = re.compile(r"UnicodeError: (.*)\)\Z")


@dataclass(frozen=True, slots=True)
class Target:
    """A validated, normalised http(s) URL and the pieces a request needs."""

    url: str
    scheme: str
    host: str
    port: int
    target: str
    host_key: str = field(default="", compare=False)
    """``host:port`` (IPv6 bracketed): the key for per-host limits. Derived from ``host`` and
    ``port`` (computed when not given): it is read several times per URL."""

    def __post_init__(self) -> None:
        if not self.host_key:
            object.__setattr__(self, "host_key", _host_key(self.host, self.port))

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: host (IPv6 bracketed) plus ``:port`` if not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        """True for https."""
        return self.scheme == "https"

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


def parse_url(text: str) -> Target:
    """Validate and normalise an absolute http(s) URL; raise `BadURLError` saying why not."""
    text = text.strip()
    if len(text) > MAX_URL_LENGTH:
        raise BadURLError(f"URL too long (more than {MAX_URL_LENGTH} characters)")
    if not text.isprintable() and _CONTROL_RE.search(text):  # isprintable: fast common case
        raise BadURLError("control character in URL")
    sep = text.find("://")
    if sep <= 0:
        raise BadURLError("not a URL")
    scheme = text[:sep]
    if scheme not in DEFAULT_PORTS:
        if not _SCHEME_RE.match(scheme):
            raise BadURLError("not a URL")
        scheme = scheme.lower()
    default_port = DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise BadURLError(f"unsupported scheme {_show(text[:sep], 20)}")
    start = sep + 3
    end_match = _AUTHORITY_END_RE.search(text, start)
    end = end_match.start() if end_match else len(text)
    host, port = _parse_authority(text[start:end], default_port)
    target = _parse_target(text[end:])
    shown = f"[{host}]" if ":" in host else host
    netloc = shown if port == default_port else f"{shown}:{port}"
    return Target(f"{scheme}://{netloc}{target}", scheme, host, port, target, _host_key(host, port))


def _host_key(host: str, port: int) -> str:
    """`Target.host_key` of ``host`` and ``port``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def rebuild_target(url: str, host_key: str) -> Target:
    """The `Target` of a URL that `parse_url` already normalised, and its ``host_key``, without
    parsing it again (a frontier reading URLs back from the state store)."""
    scheme, _, rest = url.partition("://")
    slash = rest.find("/")
    host, _, port = host_key.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return Target(url, scheme, host, int(port), rest[slash:], host_key)


def _show(text: str, limit: int = 100) -> str:
    """``repr`` of a (possibly shortened) piece of input, for one-line messages."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _parse_authority(authority: str, default_port: int) -> tuple[str, int]:
    """Split ``host[:port]`` (no userinfo allowed) and validate both halves."""
    if "@" in authority:
        raise BadURLError("credentials in URL are not supported")
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise BadURLError(f"bad IPv6 literal {_show(authority)}: missing ']'")
        host = _ipv6(authority[1:close])
        rest = authority[close + 1 :]
        if rest and not rest.startswith(":"):
            raise BadURLError(f"bad IPv6 literal {_show(authority)}: junk after ']'")
        return host, _port(rest[1:], default_port)
    if authority.count(":") > 1:
        raise BadURLError(f"bad host {_show(authority)}: an IPv6 address needs [brackets]")
    raw_host, _, raw_port = authority.partition(":")
    if not raw_host:
        raise BadURLError("missing host")
    return _hostname(raw_host), _port(raw_port, default_port)


def _port(raw: str, default_port: int) -> int:
    """Parse a port: empty means the default; otherwise 1-65535, ASCII digits only."""
    if not raw:
        return default_port
    if len(raw) > 5 or not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise BadURLError(f"bad port {_show(raw, 20)}")
    return int(raw)


def _ipv6(inner: str) -> str:
    """Validate the inside of ``[...]`` and return its compressed, lower-case form."""
    if "%" in inner:
        raise BadURLError(f"bad IPv6 literal {_show(inner)}: zone ids are not supported")
    try:
        return ipaddress.IPv6Address(inner).compressed
    except ValueError:
        raise BadURLError(f"bad IPv6 literal {_show(inner)}") from None


_HOSTNAMES: BoundedCache[str, str] = BoundedCache(1024)
"""`_hostname` of the raw hosts seen lately (a list names few hosts, each many times)."""


def _hostname(raw: str) -> str:
    """Validate a reg-name or IPv4 host; IDNA-encode international names; return it lower-case."""
    host = _HOSTNAMES.get(raw)
    if host is None:
        host = _HOSTNAMES.remember(raw, _check_hostname(raw))
    return host


def _check_hostname(raw: str) -> str:
    """`_hostname` without the cache (raises `BadURLError` for a bad host)."""
    host = raw
    if "%" in host:
        try:
            host = unquote(host, errors="strict")
        except UnicodeDecodeError:
            raise BadURLError(f"bad host {_show(raw)}: invalid percent-encoding") from None
        if _CONTROL_RE.search(host):
            raise BadURLError(f"bad host {_show(raw)}: encoded control character")
    host = host.lower()
    if not host.isascii():
        labels = len(_IDNA_DOTS_RE.split(host))
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            reason = _IDNA_REASON_RE.search(str(exc))
            raise BadURLError(
                f"bad host {_show(raw)}: not a valid internationalized domain name "
                f"({reason.group(1) if reason else exc})"
            ) from None
        if host.count(".") + 1 != labels:  # e.g. "⒈" maps to "1.": a spoofed label boundary
            raise BadURLError(f"bad host {_show(raw)}: a character in it maps to a dot")
    if len(host) > 254 or not _HOST_RE.match(host) or (len(host) == 254 and host[-1] != "."):
        raise BadURLError(f"bad host {_show(raw)}")
    if _NUMERIC_LABEL_RE.match(host.rstrip(".").rpartition(".")[2]) and not _IPV4_RE.match(host):
        # Like browsers: a host ending in a number is an IPv4 address; only the canonical
        # dotted quad is accepted (no "127.1", octal "010.0.0.1", hex or trailing dot).
        raise BadURLError(f"bad host {_show(raw)}: not a valid IPv4 address")
    return host


def _encode_run(match: re.Match[str]) -> str:
    """Percent-encode one run of unsafe characters as UTF-8 (a bare ``%`` becomes ``%25``)."""
    run = match.group()
    try:
        data = run.encode("utf-8")
    except UnicodeEncodeError:
        data = run.encode("utf-8", "surrogatepass")
    return "".join([_PCT[b] for b in data])


def _parse_target(rest: str) -> str:
    """``/path?query#fragment`` -> the encoded request-target (fragment dropped)."""
    if "#" in rest:
        rest = rest[: rest.index("#")]
    if _UNSAFE_RE.search(rest):  # path and query share one safe set, so encode both at once
        rest = _UNSAFE_RE.sub(_encode_run, rest)
    path, qmark, query = rest.partition("?")
    if not path:
        path = "/"
    elif "/." in path:
        path = remove_dot_segments(path)
    return f"{path}?{query}" if qmark else path


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: resolve ``.`` and ``..`` (never above ``/``)."""
    segments = path.split("/")
    out: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    result = "/" + "/".join(out)
    if segments[-1] in (".", "..") and out:
        result += "/"
    return result


def resolve_redirect(base: Target, location: str) -> Target:
    """Resolve a ``Location`` against the current URL; raise `RedirectError` if unusable.

    Handles absolute, protocol-relative (``//host/x``), absolute-path, query-only and relative
    references. Only http and https targets are allowed. Header values arrive latin-1 decoded,
    so non-ASCII characters of a latin-1 ``location`` stand for raw header bytes: each is
    percent-encoded byte for byte, as curl does (a UTF-8 Location keeps its UTF-8 bytes).
    """
    loc = location.strip()
    if not loc:
        raise RedirectError("redirect with an empty Location header")
    if _CONTROL_RE.search(loc):
        raise RedirectError(f"bad redirect location {_show(loc)}: control character")
    if not loc.isascii() and _LATIN1_RE.fullmatch(loc):
        loc = _HIGH_BYTE_RE.sub(lambda m: _PCT[ord(m.group())], loc)
    match = _SCHEME_PREFIX_RE.match(loc)
    if match:
        scheme = match.group(1).lower()
        if scheme not in DEFAULT_PORTS:
            raise RedirectError(f"refusing redirect to unsupported scheme {_show(scheme, 20)}")
        rest = loc[match.end() :]
        if rest.startswith("//"):
            absolute = loc
        elif scheme == base.scheme:
            absolute = _merge(base, rest)
        else:
            absolute = f"{scheme}://{rest.lstrip('/')}"
    elif loc.startswith("//"):
        absolute = f"{base.scheme}:{loc}"
    else:
        absolute = _merge(base, loc)
    try:
        return parse_url(absolute)
    except BadURLError as exc:
        raise RedirectError(f"bad redirect location {_show(loc)}: {exc}") from None


def _merge(base: Target, ref: str) -> str:
    """Join a reference without scheme and authority onto ``base`` (RFC 3986 §5.2.2-5.2.3)."""
    origin = f"{base.scheme}://{base.host_header}"
    path = base.target.partition("?")[0]
    if ref.startswith("/"):
        return origin + ref
    if not ref or ref.startswith("#"):
        return base.url
    if ref.startswith("?"):
        return origin + path + ref
    return origin + path[: path.rfind("/") + 1] + ref


@dataclass(frozen=True, slots=True)
class UrlLine:
    """A good line of a URL list. ``text`` is the stripped input line (``target.url`` if unset)."""

    target: Target
    source: str
    lineno: int
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.target.url)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a fetchable URL; ``text`` is the stripped line, at most 200 chars."""

    text: str
    source: str
    lineno: int
    error: BadURLError

    @property
    def message(self) -> str:
        """``"urls.txt:3: not a URL"``: where the line is, and why it is bad (its row's error)."""
        where = f"{self.source}:{self.lineno}" if self.lineno else self.source
        return f"{where}: {self.error}"

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)
