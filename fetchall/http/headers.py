"""An immutable, ordered, case-insensitive header list shared by the parser, engines and callbacks.

Strategy: store ``(lowercase-name, value)`` pairs in arrival order; the first lookup builds a
name -> value index with one ``dict()`` call, lists only for the rare repeated name (a response
head is looked up half a dozen times on its way through the exchange, the policy and the
report).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload


class Headers(Sequence[tuple[str, str]]):
    """Response or request headers: ``(name, value)`` pairs, names lower-cased."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = (), _lowercase: bool = False) -> None:
        self._items: tuple[tuple[str, str], ...] = (
            tuple(items) if _lowercase else tuple((k.lower(), v) for k, v in items)
        )
        self._index: dict[str, str | list[str]] | None = None

    @classmethod
    def from_lowercase(cls, items: Iterable[tuple[str, str]]) -> Headers:
        """Headers from pairs whose names are already lower case (the parser's fast path)."""
        return cls(items, True)  # not cls.__new__: mypyc cannot compile that

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
        return name.lower() in (self._index or self._lookup())

    def get(self, name: str, default: str | None = None) -> str | None:
        """The values of ``name`` joined with ``", "`` (RFC 9110 §5.3), or ``default``."""
        index = self._index
        if index is None:
            index = self._lookup()
        value = index.get(name.lower(), default)
        if value.__class__ is list:  # a repeated name
            return ", ".join(value)
        return value  # type: ignore[return-value]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in arrival order."""
        index = self._index
        if index is None:
            index = self._lookup()
        value = index.get(name.lower())
        if value is None:
            return []
        return list(value) if value.__class__ is list else [value]  # type: ignore[list-item]

    def _lookup(self) -> dict[str, str | list[str]]:
        """name -> value, or -> every value (a list) for a name that occurs more than once."""
        items = self._items
        index: dict[str, str | list[str]] = dict(items)
        if len(index) < len(items):  # repeated names: collect their values
            for k, _ in items:
                index[k] = []
            for k, v in items:
                index[k].append(v)  # type: ignore[union-attr]
            for k, values in list(index.items()):
                if len(values) == 1:
                    index[k] = values[0]
        self._index = index
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
