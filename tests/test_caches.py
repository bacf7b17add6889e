"""The bounded memo behind the module-level caches (hosts, header tuples, encoded fields)."""

from __future__ import annotations

import pytest

from fetchall.caches import BoundedCache

pytestmark = pytest.mark.timeout(10)


def test_remember_stores_and_returns_until_full_then_starts_over() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    assert [cache.remember(k, v) for k, v in (("a", 1), ("b", 2), ("c", 3))] == [1, 2, 3]
    assert cache.get("b") == 2 and len(cache) == 3
    assert cache.remember("d", 4) == 4  # full: emptied first, never more than the limit
    assert dict(cache) == {"d": 4}
    assert cache.remember("d", 5) == 5 and dict(cache) == {"d": 5}
