"""A bounded memo for module-level caches of pure functions (pure: no I/O).

Strategy: a plain ``dict`` subclass, so a hit is ``dict.get`` at C speed; a miss stores through
`BoundedCache.remember`, which empties the cache first when it is full. The keys such caches see
(hosts, header tuples) are few per run, so clearing now and then costs a few recomputations and
keeps memory bounded whatever the input.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(dict[K, V]):
    """A dict of at most ``limit`` entries, filled through `remember`."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` (after emptying a full cache) and return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
