"""Which links a crawl follows: scope, filters, traps, depth. Pure (no I/O, no state).

Strategy: `Rules` is built once from the crawl's options and seeds; `Rules.skip` answers, for
one normalised link found on a page of a given depth, the reason to skip it, or None to follow.
The checks run cheapest first and the first reason wins: ``too-long`` (over `MAX_LINK_LENGTH`
characters), ``out-of-scope``, ``excluded`` (``--exclude``, or no ``--include`` matches),
``trap`` (a path repeating one segment more than `MAX_SEGMENT_REPEATS` times), ``too-deep``.
Limits (``--max-pages``, ``--max-per-host``) need counts, so the crawler checks them after these.

Scopes: ``host`` = the host and port of any seed (wget without ``-H``); ``domain`` = the
registrable domain of any seed's host by the Public Suffix List (the ``publicsuffixlist``
package, whose bundled list is never downloaded at run time; the port is ignored; an IP address,
``localhost`` or a public suffix itself falls back to the exact host); ``prefix`` = the same
scheme, host and port, at or below the seed URL's directory (``wget -np``); ``any`` = all.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from fetchall.errors import UsageError
from fetchall.urls import Target

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

SCOPES = ("host", "domain", "prefix", "any")
MAX_LINK_LENGTH = 2000
"""Links longer than this are skipped (``too-long``): long query strings are a trap's mark."""
MAX_SEGMENT_REPEATS = 3
"""A path with one segment more than this many times is a trap (``/a/b/a/b/a/b/a/...``)."""
SKIP_REASONS = (
    "too-long", "out-of-scope", "excluded", "trap", "too-deep", "nofollow",
    "max-pages", "max-per-host", "bad-url",
)  # fmt: skip


@dataclass(slots=True)
class Rules:
    """A crawl's rules for following links (see module docstring); `add_seed` widens the
    scope as seeds are read (each in O(1), so a list of a million seeds is no burden)."""

    scope: str
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    depth: int = 5
    hosts: set[str] = field(default_factory=set)
    """host:port of the seeds (``host`` scope)."""
    domains: set[str] = field(default_factory=set)
    """Registrable domains (or exact hosts) of the seeds (``domain`` scope)."""
    prefixes: set[str] = field(default_factory=set)
    """``scheme://host:port/dir/`` of the seeds (``prefix`` scope)."""

    @classmethod
    def build(
        cls,
        seeds: Iterable[Target],
        *,
        scope: str = "host",
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        depth: int = 5,
    ) -> Rules:
        """Rules for ``seeds``; `UsageError` for an unknown scope or a bad regex."""
        if scope not in SCOPES:
            raise UsageError(f"--scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        if depth < 0:
            raise UsageError(f"--depth must be 0 or more, got {depth}")
        rules = cls(
            scope=scope,
            include=tuple(_compile(p, "--include") for p in include),
            exclude=tuple(_compile(p, "--exclude") for p in exclude),
            depth=depth,
        )
        for seed in seeds:
            rules.add_seed(seed)
        return rules

    def add_seed(self, seed: Target) -> None:
        """Put one more seed's host, domain and directory in scope."""
        self.hosts.add(seed.host_key)
        if self.scope == "domain":
            self.domains.add(registrable_domain(seed.host))
        self.prefixes.add(prefix_of(seed))

    def in_scope(self, target: Target) -> bool:
        """Whether ``target`` is inside the crawl's scope (filters aside)."""
        scope = self.scope
        if scope == "host":
            return target.host_key in self.hosts
        if scope == "domain":
            return registrable_domain(target.host) in self.domains
        if scope == "prefix":
            return self._under_a_prefix(target)
        return True

    def _under_a_prefix(self, target: Target) -> bool:
        """Whether a directory above ``target`` (or its own) is a seed's: one set lookup per
        directory level of its path."""
        url = target.url
        path_start = len(url) - len(target.target)
        end = url.find("?", path_start)
        slash = url.rfind("/", path_start, len(url) if end == -1 else end)
        prefixes = self.prefixes
        while slash >= path_start:
            if url[: slash + 1] in prefixes:
                return True
            slash = url.rfind("/", path_start, slash)
        return False

    def skip(self, target: Target, depth: int) -> str | None:
        """Why the link ``target`` (at ``depth``: its page's depth + 1) is not followed, or
        None (see module docstring for the order)."""
        url = target.url
        if len(url) > MAX_LINK_LENGTH:
            return "too-long"
        if not self.in_scope(target):
            return "out-of-scope"
        if self.excluded(url):
            return "excluded"
        if is_trap(target.target):
            return "trap"
        if depth > self.depth:
            return "too-deep"
        return None

    def excluded(self, url: str) -> bool:
        """``--exclude`` matches, or ``--include`` is given and none matches."""
        if any(pattern.search(url) for pattern in self.exclude):
            return True
        return bool(self.include) and not any(pattern.search(url) for pattern in self.include)


def is_trap(request_target: str) -> bool:
    """Whether a path repeats one segment more than `MAX_SEGMENT_REPEATS` times."""
    path = request_target.split("?", 1)[0]
    if path.count("/") <= MAX_SEGMENT_REPEATS:
        return False
    counts = Counter(segment for segment in path.split("/") if segment)
    return bool(counts) and max(counts.values()) > MAX_SEGMENT_REPEATS


def prefix_of(seed: Target) -> str:
    """The seed URL up to its directory: ``http://h:80/a/b.html?q`` → ``http://h/a/``."""
    path = seed.target.split("?", 1)[0]
    directory = path[: path.rfind("/") + 1] or "/"
    origin = seed.url[: len(seed.url) - len(seed.target)]
    return origin + directory


@lru_cache(maxsize=65_536)
def registrable_domain(host: str) -> str:
    """The registrable domain of ``host`` by the Public Suffix List (private section
    included: ``a.github.io`` and ``b.github.io`` differ); the host itself for an IP address,
    a dotless name or a public suffix."""
    if not host or "." not in host.strip("."):
        return host
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    found = _psl().privatesuffix(host.rstrip("."))
    return found if found else host


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _compile(pattern: str, option: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"{option}: bad regular expression {pattern!r}: {exc}") from None
