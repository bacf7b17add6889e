"""Pickling and copying frozen dataclasses through their ``__init__``.

Strategy: a frozen, slotted dataclass normally pickles through the ``__getstate__`` and
``__setstate__`` that `dataclasses` adds; compiled by mypyc (fetchall/build.py) it loses them,
and unpickling assigns to a frozen field. `rebuild_args` is what such a class's ``__reduce__``
returns instead: the class and its ``__init__`` arguments, so the `processes` engine's jobs and
``copy.copy`` work the same in both builds.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def rebuild_args(obj: Any) -> tuple[type, tuple[object, ...]]:
    """``(class, init arguments)`` of a dataclass instance whose ``__init__`` takes its fields
    positionally: a ``__reduce__`` value."""
    cls = type(obj)
    return cls, tuple(getattr(obj, f.name) for f in fields(cls) if f.init)
