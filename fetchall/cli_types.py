"""Plain option values without pydantic: a start-up cut for the command line.

Strategy: typer 0.29 coerces every value of the invoked command's parameters through a pydantic
``TypeAdapter``, built on first use (``typer.core._TyperParameter.get_runtime_param`` calls
``build_runtime_param``); importing pydantic and building the adapters costs about 0.1 s of CPU
on every run. `install` replaces that method with one that gives a `PlainParam` to parameters of
type str, int, float, bool or Path, bare or in a list (typer has already removed ``Optional``),
with no parser and no range. A `PlainParam` converts only the values whose result is certain:
a str as it is, a canonical decimal number (``int()`` and ``float()`` give pydantic's result
there), a Path from a str, a value that already has the type. Every other value, valid or not,
goes to the param typer itself would have built (pydantic, imported then), so odd spellings
that pydantic accepts (``" 5 "``, ``1_000``, ``5.0``) and every error message stay typer's own.
Any other type keeps typer's path from the start. This relies on typer's private API:
pyproject.toml pins typer to 0.29.x, and tests/test_cli_types.py compares both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from typer._click import Context
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_path
from typer.core import _TyperParameter
from typer.models import ParameterInfo

Convert = Callable[[Any, ParameterInfo, _TyperParameter, Context], Any]
"""Converts one value (the parameter's info, the parameter and the context given for errors)."""

_MAX_DIGITS = 15
"""Longest digit run converted here; longer numbers (and anything odd) go to pydantic."""


class _Unsure(Exception):
    """The value is not one whose conversion is certain here: let typer's param decide."""


def _digits(text: str) -> bool:
    """``text`` is 1 to `_MAX_DIGITS` ASCII digits."""
    return 0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()


def _unsigned(text: str) -> str:
    return text[1:] if text[:1] in ("+", "-") else text


def _to_str(value: Any, info: ParameterInfo, param: _TyperParameter, ctx: Context) -> str:
    if type(value) is not str:
        raise _Unsure
    return value


def _to_bool(value: Any, info: ParameterInfo, param: _TyperParameter, ctx: Context) -> bool:
    if type(value) is not bool:
        raise _Unsure
    return value


def _to_int(value: Any, info: ParameterInfo, param: _TyperParameter, ctx: Context) -> int:
    if type(value) is int:
        return value
    if type(value) is str and _digits(_unsigned(value)):
        return int(value)
    raise _Unsure


def _to_float(value: Any, info: ParameterInfo, param: _TyperParameter, ctx: Context) -> float:
    if type(value) is float:
        return value
    if type(value) is str:
        whole, dot, fraction = _unsigned(value).partition(".")
        if _digits(whole) and (not dot or _digits(fraction)):
            return float(value)
    raise _Unsure


def _to_path(value: Any, info: ParameterInfo, param: _TyperParameter, ctx: Context) -> Any:
    if type(value) is str:
        value = Path(value)  # what pydantic's Path validator makes of a str
    elif not isinstance(value, Path):
        raise _Unsure
    # typer's own checks (exists, readable, resolve_path...), given a Path: no pydantic there
    return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)


_CONVERTERS: dict[Any, Convert] = {
    str: _to_str,
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    Path: _to_path,
}


class PlainParam(RuntimeParam):
    """Coerces the values of one plain parameter; typer's own param takes any other value.

    Not a dataclass itself (``@dataclass`` would cost 1 ms at start-up): `RuntimeParam` is a
    frozen one, so the fields are set with ``object.__setattr__``."""

    descriptor: TypeDescriptor
    convert: Convert
    many: bool
    """A list parameter: convert each item."""
    _typer: list[RuntimeParam]

    def __init__(self, descriptor: TypeDescriptor, convert: Convert, many: bool) -> None:
        super().__init__(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
        for name, value in (("descriptor", descriptor), ("convert", convert), ("many", many)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_typer", [])

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        try:
            if not self.many:
                return self.convert(value, self.parameter_info, param, ctx)
            items = value if isinstance(value, list | tuple) else [value]
            return [self.convert(item, self.parameter_info, param, ctx) for item in items]
        except Exception:  # _Unsure, or an error whose message typer's param words
            pass
        return self.typer_param()._coerce_value(value, param=param, ctx=ctx)

    def typer_param(self) -> RuntimeParam:
        """The param typer builds for this parameter (pydantic), built on first use."""
        if not self._typer:
            self._typer.append(build_runtime_param(self.descriptor))
        return self._typer[0]


def plain_param(descriptor: TypeDescriptor) -> PlainParam | None:
    """A `PlainParam` for a plain parameter; None when typer's own path must handle it."""
    info, annotation = descriptor.parameter_info, descriptor.annotation
    if descriptor.file_annotation is not None or info.parser is not None:
        return None
    many = descriptor.is_list
    leaf = get_args(annotation)[0] if many else annotation
    convert = _CONVERTERS.get(leaf)
    if convert is None:
        return None
    if leaf in (int, float) and (info.min is not None or info.max is not None):
        return None  # a range: pydantic's constraints and messages
    if leaf is Path and info.path_type is not None:
        return None  # Path(path_type=str/bytes): converted to that type by typer
    return PlainParam(descriptor, convert, many)


def runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
    """What `install` builds for a parameter: a `PlainParam`, or typer's own param."""
    return plain_param(descriptor) or build_runtime_param(descriptor)


def _get_runtime_param(self: _TyperParameter) -> RuntimeParam:
    """``_TyperParameter.get_runtime_param`` with `runtime_param` as the builder."""
    if self._runtime_param is None:
        self._runtime_param = runtime_param(self.type_descriptor)
    return self._runtime_param


def install() -> None:
    """Make typer build `runtime_param`s (idempotent)."""
    _TyperParameter.get_runtime_param = _get_runtime_param  # type: ignore[method-assign]
