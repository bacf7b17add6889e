"""HTML → links: what a browser would follow on a page. Pure (bytes in, URLs out).

Strategy: an HTML5 parser (selectolax's lexbor backend, measured in ../shared/research/crawl.md:
29 of 30 malformed documents as headless Chromium extracts them, 2.7 µs per URL) builds the tree
a browser builds, with scripting on (so ``<noscript>`` holds text, as in a browser that runs
scripts); the charset comes from a BOM or ``<meta charset>`` (else UTF-8). Links are ``a`` and
``area`` ``href``, ``frame`` and ``iframe`` ``src`` (not inside ``svg`` or ``math``); page
requisites are ``img`` ``src`` and ``srcset``, ``script`` ``src`` and ``link`` ``href`` with
``rel`` stylesheet or icon. Values lose their surrounding ASCII whitespace (entities are already
decoded by the parser) and are resolved against the first ``<base href>`` (else the page's
URL) with `urllib.parse.urljoin`; fragments are dropped; only http and https are kept.
``rel=nofollow`` marks a link, ``<meta name=robots content=nofollow|none>`` the page.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_PARSE = 16 << 20
"""Bytes of a page parsed at most (a bigger page's links beyond that are not seen)."""

_WHITESPACE = " \t\n\f\r"
_SLOW = ("\t", "\n", "\r", "/.", ";", "\\")  # in a value: resolve it with urljoin
_LINKS = (
    "a[href]:not(svg a):not(math a), area[href]:not(svg area):not(math area), "
    "frame[src], iframe[src]"
)
_REQUISITES = "img, script[src], link[href][rel]"  # one selector per element: no repeats
_ATTRIBUTE = {"a": "href", "area": "href", "frame": "src", "iframe": "src", "link": "href"}


@dataclass(frozen=True, slots=True)
class Link:
    """One URL found on a page."""

    url: str
    """Absolute, without fragment, http or https (not yet normalised)."""
    requisite: bool = False
    """An image, script, stylesheet or icon (``--page-requisites``), not a link to follow."""
    nofollow: bool = False
    """The element says ``rel=nofollow``."""


@dataclass
class Page:
    """What a page says about its links."""

    links: list[Link] = field(default_factory=list)
    nofollow: bool = False
    """``<meta name="robots" content="nofollow">`` (or ``none``)."""
    title: str | None = None


def is_html(content_type: str | None) -> bool:
    """Whether a Content-Type names HTML (``text/html``, ``application/xhtml+xml``)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def extract(body: bytes, page_url: str, *, requisites: bool = False) -> Page:
    """The links of the HTML document ``body`` fetched from ``page_url`` (in document order,
    repeats kept); with ``requisites``, its images, scripts, stylesheets and icons too."""
    tree = LexborHTMLParser(body[:MAX_PARSE], encoding=True, scripting=True)
    base = page_url
    first_base = tree.css_first("base[href]")
    if first_base is not None:
        with contextlib.suppress(ValueError):  # a bad base (``http://[::1``) is ignored
            base = urljoin(page_url, _strip(first_base.attributes.get("href")))
    page = Page(nofollow=_meta_nofollow(tree), title=_title(tree))
    selector = f"{_LINKS}, {_REQUISITES}" if requisites else _LINKS
    for node in tree.css(selector):
        _add(page.links, node, base)
    return page


def _add(links: list[Link], node: LexborNode, base: str) -> None:
    tag = node.tag
    attributes = node.attributes
    if tag == "img" or tag == "script":
        values = [attributes.get("src")]
        if tag == "img" and attributes.get("srcset"):
            values += srcset_urls(attributes["srcset"] or "")
        for value in values:
            _append(links, value, base, requisite=True)
        return
    if tag == "link":
        rels = _tokens(attributes.get("rel"))
        if "stylesheet" in rels or "icon" in rels:
            _append(links, attributes.get("href"), base, requisite=True)
        return
    nofollow = "nofollow" in _tokens(attributes.get("rel")) if tag in ("a", "area") else False
    _append(links, attributes.get(_ATTRIBUTE.get(tag or "", "href")), base, nofollow=nofollow)


def _append(
    links: list[Link],
    value: str | None,
    base: str,
    *,
    requisite: bool = False,
    nofollow: bool = False,
) -> None:
    if value is None:
        return
    try:
        url = resolve(base, _strip(value))
    except ValueError:  # e.g. a bad IPv6 literal
        return
    if url[:7].lower() == "http://" or url[:8].lower() == "https://":
        links.append(Link(url, requisite, nofollow))


def resolve(base: str, value: str) -> str:
    """``urljoin(base, value)`` without its fragment. The two commonest forms skip urljoin
    (30 µs): a value without tab, CR, LF (urljoin removes them), dot segments or an empty query
    that is absolute lower-case http(s) is itself, and one that starts with a single ``/``
    follows the base's origin. (A value urljoin rejects, like ``http://[::2``, may pass the fast
    path as written: the crawl's URL parser rejects it then.)"""
    head = value.partition("#")[0]
    if head[-1:] != "?" and not any(c in head for c in _SLOW):
        if head[:1] == "/" and head[1:2] != "/":
            origin = _origin(base)
            if origin:
                return origin + head
        elif head.startswith(("http://", "https://")):
            first = head[8 if head[4] == "s" else 7 : 9 if head[4] == "s" else 8]
            if first.isalnum() or first == "[":  # an authority (no "https:///x")
                return head
    return urldefrag(urljoin(base, value))[0]


def _origin(base: str) -> str:
    """``scheme://authority`` of an http(s) base, or ""."""
    lowered = base[:8].lower()
    if lowered.startswith("http://"):
        start = 7
    elif lowered.startswith("https://"):
        start = 8
    else:
        return ""
    end = len(base)
    for stop in "/?#":
        found = base.find(stop, start)
        if found != -1 and found < end:
            end = found
    return base[:end] if end > start else ""


def srcset_urls(srcset: str) -> list[str]:
    """The URLs of a ``srcset`` attribute (WHATWG's candidate splitting: a URL runs to
    whitespace, trailing commas end a candidate, descriptors run to a comma outside
    parentheses)."""
    urls = []
    position, size = 0, len(srcset)
    while position < size:
        while position < size and (srcset[position] in _WHITESPACE or srcset[position] == ","):
            position += 1
        start = position
        while position < size and srcset[position] not in _WHITESPACE:
            position += 1
        url = srcset[start:position]
        if not url:
            break
        if url.endswith(","):
            urls.append(url.rstrip(","))
            continue
        urls.append(url)
        depth = 0
        while position < size:  # descriptors, up to a comma outside parentheses
            char = srcset[position]
            position += 1
            if char == "(":
                depth += 1
            elif char == ")" and depth:
                depth -= 1
            elif char == "," and not depth:
                break
    return urls


def nofollow_header(values: list[str]) -> bool:
    """Whether ``X-Robots-Tag`` values say ``nofollow`` (or ``none``) for every robot: a value
    scoped to one bot (``googlebot: nofollow``) does not apply."""
    for value in values:
        for part in value.split(","):
            token = part.strip().lower()
            if token in ("nofollow", "none"):
                return True
    return False


def _meta_nofollow(tree: LexborHTMLParser) -> bool:
    for meta in tree.css("meta[name][content]"):
        name = (meta.attributes.get("name") or "").strip().lower()
        if name == "robots":
            tokens = {t.strip() for t in (meta.attributes.get("content") or "").lower().split(",")}
            if tokens & {"nofollow", "none"}:
                return True
    return False


def _title(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("title")
    if node is None:
        return None
    return " ".join(node.text().split()) or None


def _strip(value: str | None) -> str:
    return (value or "").strip(_WHITESPACE)


def _tokens(value: str | None) -> set[str]:
    return set((value or "").lower().split())
