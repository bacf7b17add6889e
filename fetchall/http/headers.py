"""An immutable, ordered, case-insensitive header list shared by the parser, engines and callbacks.

Strategy: store ``(lowercase-name, value)`` pairs in arrival order; lookups scan the list
(heads are small and bounded by the parser).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload


class Headers(Sequence[tuple[str, str]]):
    """Response or request headers: ``(name, value)`` pairs, names lower-cased."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple((k.lower(), v) for k, v in items)

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
        key = name.lower()
        return any(k == key for k, _ in self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The values of ``name`` joined with ``", "`` (RFC 9110 §5.3), or ``default``."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in arrival order."""
        key = name.lower()
        return [v for k, v in self._items if k == key]

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
