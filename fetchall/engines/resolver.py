"""Name resolution for the engines that run on one thread (polling, select, generator).

Strategy: ``socket.getaddrinfo`` has no non-blocking form, so it is made clearly bounded and
cheap instead: IP literals are parsed with ``AI_NUMERICHOST`` and never reach the resolver, and
names are cached per (host, port) for the run (definite "no such name" answers too; transient
failures are asked again). A name lookup is therefore the one place these engines block, once
per host name per run.
"""

from __future__ import annotations

import socket
from typing import Any, TypeAlias

Address: TypeAlias = tuple[socket.AddressFamily, tuple[Any, ...]]
"""One address to connect to: (family, sockaddr)."""
DNSCache: TypeAlias = dict[tuple[str, int], list[Address] | socket.gaierror]
"""Name lookups of one run: (host, port) → addresses, or the definite failure."""

DNS_CACHE_SIZE = 4096
"""At most this many names are remembered (oldest forgotten first)."""

_DEFINITE_DNS_FAILURES = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


def resolve(host: str, port: int, cache: DNSCache) -> list[Address]:
    """The addresses of ``host:port`` in resolver order (IP literals never hit the resolver).

    Blocks in ``getaddrinfo`` for a name not yet in ``cache``; raises ``socket.gaierror``.
    """
    key = (host, port)
    known = cache.get(key)
    if known is None:
        try:  # an IP literal is parsed here, never sent to the resolver, and not cached
            return _addresses(
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
            )
        except socket.gaierror:
            pass
        try:
            known = _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except socket.gaierror as exc:
            if exc.errno in _DEFINITE_DNS_FAILURES:  # transient failures are asked again
                _remember(cache, key, exc)
            raise
        _remember(cache, key, known)
    if isinstance(known, socket.gaierror):
        raise socket.gaierror(known.errno, known.strerror)
    return known


def _addresses(infos: list[tuple[Any, ...]]) -> list[Address]:
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def _remember(
    cache: DNSCache, key: tuple[str, int], value: list[Address] | socket.gaierror
) -> None:
    if len(cache) >= DNS_CACHE_SIZE:
        del cache[next(iter(cache))]
    cache[key] = value
