"""Map a URL to a safe relative file path (like ``wget -x``), and vet paths chosen by callbacks.

Strategy: ``<hostdir>/<component>/.../<last>`` where each path component is percent-decoded and
then sanitised. Any component that sanitising, lossy decoding or truncation changed gets
``~<8 hex>`` (a blake2b hash of its *raw* form) inserted before its extension, so distinct URLs
keep distinct paths; a raw component that already ends like such a tag is tagged too, so a tag
can never be forged by an untouched name. Pure: no I/O.

Layout rules:
- host dir: the host; an IPv6 host is bracketed with ``:`` replaced by ``_`` (``[::1]`` ->
  ``[__1]``), which no DNS name or IPv4 address can look like; ``_<port>`` is appended when the
  port is not the scheme's default. A DNS host containing ``_`` is tagged (it could otherwise
  look like ``<host>_<port>``).
- a path ending in ``/`` (or empty) gets ``index.html`` as its last component (as wget does;
  ``/a/`` and ``/a/index.html`` share a name, which `OutputDir` resolves within a run).
- a query (even an empty one) becomes ``<stem>_<query, at most 60 bytes>_<8 hex><ext>``.
- ``/``, ``\\``, NUL, C0/C1 controls, lone surrogates and bidi controls become ``_``; leading
  and trailing dots and spaces become ``_`` (so ``.`` and ``..`` never survive and nothing is
  hidden); each component is at most 150 bytes of UTF-8; the whole path at most 1000 bytes
  (middle directories are folded into one ``~<16 hex>`` component).
"""

from __future__ import annotations

import re
from functools import lru_cache
from hashlib import blake2b
from urllib.parse import quote, unquote

from fetchall.urls import DEFAULT_PORTS, Target

MAX_COMPONENT_BYTES = 150
MAX_QUERY_BYTES = 60
MAX_PATH_BYTES = 1000
INDEX_NAME = "index.html"
TAG_LEN = 9  # "~" + 8 hex

_UNSAFE_RE = re.compile(
    r"[\x00-\x1f\x7f-\x9f/\\"  # controls and separators
    r"\ud800-\udfff"  # lone surrogates (cannot be encoded)
    r"\u200e\u200f\u202a-\u202e\u2066-\u2069]"  # bidi controls (name spoofing)
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TAG_RE = re.compile(r"~[0-9a-f]{8,}\Z")
_EDGE = ". "
# A component that needs no change: safe ASCII, no "%" or "~", no dot at either end, <= 150.
_PLAIN = r"[A-Za-z0-9_\-!$&'()*+,;=:@\[\]]"
_PLAIN_MID = r"[A-Za-z0-9_\-.!$&'()*+,;=:@\[\]]"
_PLAIN_COMPONENT = rf"{_PLAIN}(?:{_PLAIN_MID}{{0,148}}{_PLAIN})?"
_PLAIN_COMPONENT_RE = re.compile(rf"{_PLAIN_COMPONENT}\Z")
_PLAIN_PATH_RE = re.compile(rf"(?=/)(?:/{_PLAIN_COMPONENT})*/?\Z")
# What parse_url leaves unencoded: decoding a component is lossless iff re-quoting gives it back.
_PCHAR_SAFE = "-._~!$&'()*+,;=:@[]"


def url_to_relpath(target: Target) -> str:
    """The POSIX relative path (under the output directory) for a URL's body."""
    path, qmark, query = target.target.partition("?")
    host_dir = _host_dir(target.host, target.port, target.scheme)
    extra = _query_suffix(query) if qmark else ""
    if len(path) < MAX_PATH_BYTES - 400 and _PLAIN_PATH_RE.match(path):
        # Fast path: the directories need no change (ASCII, "/"-led); the total stays bounded.
        head, _, last = path.rpartition("/")
        if not extra:
            return f"{host_dir}{path}{INDEX_NAME}" if not last else host_dir + path
        return f"{host_dir}{head}/{_component(last or INDEX_NAME, extra)}"
    raw_parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
    parts = [host_dir]
    parts.extend(_component(raw) for raw in raw_parts[:-1])
    last = raw_parts[-1] if raw_parts else ""
    parts.append(_component(last or INDEX_NAME, extra))
    return _bound_total(parts, raw_parts)


@lru_cache(maxsize=4096)
def _host_dir(host: str, port: int, scheme: str) -> str:
    """The first component: host (IPv6 bracketed, ``:`` -> ``_``) plus ``_<port>`` if needed."""
    name = f"[{host.replace(':', '_')}]" if ":" in host else host
    if port != DEFAULT_PORTS.get(scheme):
        name = f"{name}_{port}"
    return _component(name, force_tag="_" in host and ":" not in host)


def _query_suffix(query: str) -> str:
    """``_<readable query>_<8 hex of the raw query>`` (inserted before the extension)."""
    text = unquote(query, errors="replace") if "%" in query else query
    text = _truncate(_UNSAFE_RE.sub("_", text), MAX_QUERY_BYTES)
    return f"_{text}_{_h8(query)}"


def _component(raw: str, extra: str = "", *, force_tag: bool = False) -> str:
    """One sanitised path component (with ``extra`` inserted before the extension)."""
    if not force_tag and _PLAIN_COMPONENT_RE.match(raw):
        if not extra:
            return raw
        stem, ext = split_ext(raw)  # fast path: nothing to sanitise, only the query to add
        return _assemble(stem, ext, extra, raw, changed=False)
    if "%" in raw:
        text = unquote(raw, errors="replace")
        # Tag a lossy or non-canonical encoding ("%41", "%ff") so it cannot meet its twin.
        changed = quote(text, safe=_PCHAR_SAFE, errors="surrogatepass") != raw
    else:
        text = raw
        changed = False
    clean = _UNSAFE_RE.sub("_", text) if text else "_"
    if clean[0] in _EDGE or clean[-1] in _EDGE:
        clean = _fix_edges(clean)
    stem, ext = split_ext(clean)
    changed = changed or force_tag or clean != text or _TAG_RE.search(stem) is not None
    return _assemble(stem, ext, extra, raw, changed=changed)


def _assemble(stem: str, ext: str, extra: str, raw: str, *, changed: bool) -> str:
    """``stem[~tag]extra ext`` within `MAX_COMPONENT_BYTES` (truncating the stem adds the tag)."""
    tag = "~" + _h8(raw) if changed else ""
    budget = MAX_COMPONENT_BYTES - _blen(tag + extra + ext)
    if _blen(stem) > budget:
        if not tag:
            tag = "~" + _h8(raw)
            budget -= TAG_LEN
        stem = _truncate(stem, budget)
    return f"{stem}{tag}{extra}{ext}"


def _fix_edges(name: str) -> str:
    """Replace leading and trailing dots/spaces by ``_`` (``..`` -> ``__``, ``.x`` -> ``_x``)."""
    lead = len(name) - len(name.lstrip(_EDGE))
    name = "_" * lead + name[lead:]
    trail = len(name) - len(name.rstrip(_EDGE))
    return name[: len(name) - trail] + "_" * trail if trail else name


def split_ext(name: str) -> tuple[str, str]:
    """``("page", ".php")`` for ``page.php``; the extension is 1-10 ASCII alphanumerics, and a
    leading dot (``.profile``) is not one."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    ext = name[dot:]
    if len(ext) > 11 or not ext.isascii() or not ext[1:].isalnum():
        return name, ""
    return name[:dot], ext


def _bound_total(parts: list[str], raw_parts: list[str]) -> str:
    """Join ``parts``; if over `MAX_PATH_BYTES`, fold middle directories into one hash."""
    joined = "/".join(parts)
    if _blen(joined) <= MAX_PATH_BYTES:
        return joined
    fold = (
        "~"
        + blake2b("/".join(raw_parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    )
    budget = MAX_PATH_BYTES - _blen(parts[0]) - _blen(parts[-1]) - len(fold) - 3
    kept: list[str] = []
    for part in parts[1:-1]:
        budget -= _blen(part) + 1
        if budget < 0:
            break
        kept.append(part)
    return "/".join([parts[0], *kept, fold, parts[-1]])


def _h8(raw: str) -> str:
    """8 hex chars of blake2b over the raw text."""
    return blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


def _blen(text: str) -> int:
    """UTF-8 length in bytes."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes, on a character boundary."""
    if _blen(text) <= limit:
        return text
    return text.encode("utf-8", "surrogatepass")[: max(limit, 0)].decode("utf-8", "ignore")


def safe_relpath(user_path: str) -> str:
    """Vet a relative path returned by a callback: ``\\`` -> ``/``, drop empty and ``.`` parts.

    Raises ValueError if it is empty, absolute, contains ``..`` or a control character.
    """
    if _CONTROL_RE.search(user_path):
        raise ValueError(f"control character in path {user_path!r}")
    path = user_path.replace("\\", "/")
    if path.startswith("/"):
        raise ValueError(f"path must be relative, not {user_path!r}")
    parts = [part for part in path.split("/") if part and part != "."]
    if ".." in parts:
        raise ValueError(f"'..' is not allowed in path {user_path!r}")
    if not parts:
        raise ValueError(f"empty path {user_path!r}")
    return "/".join(parts)
