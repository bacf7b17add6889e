"""An immutable, ordered, case-insensitive header list shared by the parser, engines and callbacks.

Strategy: store ``(lowercase-name, value)`` pairs in arrival order; the first lookup builds a
name -> values index (a response head is looked up half a dozen times on its way through the
exchange, the policy and the report).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload


class Headers(Sequence[tuple[str, str]]):
    """Response or request headers: ``(name, value)`` pairs, names lower-cased."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple((k.lower(), v) for k, v in items)
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def from_lowercase(cls, items: Iterable[tuple[str, str]]) -> Headers:
        """Headers from pairs whose names are already lower case (the parser's fast path)."""
        headers = cls.__new__(cls)
        headers._items = tuple(items)
        headers._index = None
        return headers

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, str]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | Sequence[tuple[str, str]]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name.lower() in self._lookup()

    def get(self, name: str, default: str | None = None) -> str | None:
        """The values of ``name`` joined with ``", "`` (RFC 9110 §5.3), or ``default``."""
        values = self._lookup().get(name.lower())
        if values is None:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in arrival order."""
        return list(self._lookup().get(name.lower(), ()))

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for k, v in self._items:
                values = index.get(k)
                if values is None:
                    index[k] = [v]
                else:
                    values.append(v)
        return index

    def to_dict(self) -> dict[str, str]:
        """A plain dict (repeated names joined with ``", "``)."""
        out: dict[str, str] = {}
        for k, v in self._items:
            out[k] = f"{out[k]}, {v}" if k in out else v
        return out

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)
