"""Option values without pydantic (fetchall.cli_types): every value gives exactly what typer's
own pydantic path gives (the value, or the error and its message), compared in-process on every
parameter of the real command line, on a table of odd spellings and on random text."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer._click import Context
from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import _TyperParameter

from fetchall import cli_types
from fetchall.cli import app
from fetchall.cli_types import PlainParam, plain_param

pytestmark = pytest.mark.timeout(120)


def _app_params() -> Iterator[tuple[str, _TyperParameter, Context]]:
    """(command/option, parameter, context) for every typed parameter of every command."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    for name, command in sorted(group.commands.items()):
        ctx = Context(command, info_name=name)
        for param in command.params:
            if isinstance(param, _TyperParameter):
                yield f"{name}/{param.name}", param, ctx


PARAMS = list(_app_params())
VALUED = [item for item in PARAMS if item[1].type_descriptor.annotation is not bool]
"""The parameters that take a value (bool flags give bools, which typer does not coerce)."""


class Pair:
    """A parameter's `PlainParam` and the param typer builds for it, side by side."""

    def __init__(self, param: _TyperParameter, ctx: Context) -> None:
        plain = plain_param(param.type_descriptor)
        assert plain is not None, param.name
        self.plain, self.typer = plain, build_runtime_param(param.type_descriptor)
        self.param, self.ctx = param, ctx

    def outcome(self, runtime: RuntimeParam, value: Any) -> tuple[str, str, str]:
        try:
            result = runtime.coerce(value, param=self.param, ctx=self.ctx)
        except Exception as exc:
            words = getattr(exc, "format_message", None)  # click's errors, as main() prints them
            message = words() if words is not None else str(exc)
            return "error", type(exc).__name__, message
        return "ok", type(result).__name__, repr(result)

    def check(self, value: Any) -> tuple[str, str, str]:
        """Both outcomes for ``value``; asserts they are equal."""
        mine, typers = self.outcome(self.plain, value), self.outcome(self.typer, value)
        assert mine == typers, (self.param.name, value)
        return mine


_PAIRS: dict[str, Pair] = {}


def pair(key: str) -> Pair:
    """The `Pair` of a parameter, by ``command/name`` (built once: adapters are slow)."""
    if key not in _PAIRS:
        _, param, ctx = next(item for item in PARAMS if item[0] == key)
        _PAIRS[key] = Pair(param, ctx)
    return _PAIRS[key]


ODD = [
    "", " ", "0", "5", "+5", "-5", "-0", "+0", "007", "5.0", "5.5", " 5 ", "\t5\n", "1_000",
    "1__0", "_1", "1_", "0x10", "0b1", "0o7", "1e3", "1E3", "5.", ".5", "+.5", "-.5", "+-5", "-",
    "+", ".", "inf", "-inf", "+inf", "Infinity", "INF", "nan", "NaN", "-nan", "1,5", "1.5.5",
    "٣", "²", "３", "1 000", "0.0", "-0.0", "00.00", "1e400", "-1e400", "1e-400", "9" * 15,
    "9" * 16, "9" * 18, "9" * 19, "9" * 30, "-" + "9" * 15, "0." + "1" * 15, "0." + "1" * 16,
    "1" * 15 + "." + "1" * 15, "1" * 16 + ".5", "9007199254740993", "0.1", "123456789.987654321",
    "abc", "--", "-c", "\x00", "a\x00b", "\udcff", "é", "/", "/nonexistent", "~", ".", "..",
    "a/../b/", "//x", "-",
]  # fmt: skip


@pytest.mark.parametrize(("key", "param", "ctx"), VALUED, ids=[item[0] for item in VALUED])
def test_odd_values_give_what_typer_gives(key: str, param: _TyperParameter, ctx: Context) -> None:
    both = pair(key)
    values: list[Any] = [param.default, None]
    many = param.multiple or param.nargs == -1
    values += ([(text,) for text in ODD] + [tuple(ODD), ()]) if many else ODD
    for value in values:
        both.check(value)


def test_every_parameter_of_the_cli_skips_pydantic() -> None:
    """A parameter left to typer would import pydantic again: each one gets a `PlainParam`."""
    assert VALUED
    for key, param, _ in PARAMS:
        assert plain_param(param.type_descriptor) is not None, key


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("fetch/concurrency", "-5", -5),
        ("fetch/concurrency", "+0012", 12),
        ("fetch/timeout", "2.50", 2.5),
        ("fetch/timeout", "-0", -0.0),
        ("fetch/engine", "keepalive", "keepalive"),
        ("fetch/out", "downloads/x", Path("downloads/x")),
        ("fetch/url_files", ("a", "-"), ["a", "-"]),
        ("bench/url_files", ("a",), [Path("a")]),
        ("fetch/header", ("X: 1",), ["X: 1"]),
    ],
)
def test_usual_values_are_converted_without_typers_path(key: str, text: Any, expected: Any) -> None:
    both = pair(key)
    fresh = plain_param(both.param.type_descriptor)
    assert fresh is not None
    result = fresh.coerce(text, param=both.param, ctx=both.ctx)
    assert result == expected and type(result) is type(expected)
    assert fresh._typer == []  # typer's param (pydantic) was not even built
    both.check(text)


def test_odd_spellings_go_to_typers_path() -> None:
    both = pair("fetch/concurrency")
    fresh = plain_param(both.param.type_descriptor)
    assert fresh is not None
    assert fresh.coerce(" 5 ", param=both.param, ctx=both.ctx) == 5
    assert len(fresh._typer) == 1


def test_error_messages_are_pydantics() -> None:
    assert pair("fetch/concurrency").check("abc") == (
        "error",
        "BadParameter",
        "Invalid value for '--concurrency' / '-c': "
        "Input should be a valid integer, unable to parse string as an integer",
    )
    assert pair("fetch/timeout").check("abc") == (
        "error",
        "BadParameter",
        "Invalid value for '--timeout': "
        "Input should be a valid number, unable to parse string as a number",
    )


_NUMERIC = st.text(alphabet="0123456789+-._ eEinfaINFA,x٣\t", max_size=14)
_DECIMAL = st.from_regex(r"\A[+-]?[0-9]{0,19}(\.[0-9]{0,19})?\Z")


@settings(max_examples=400, deadline=None)
@given(st.one_of(_NUMERIC, _DECIMAL))
def test_numbers_match_typer(text: str) -> None:
    for key in ("fetch/concurrency", "fetch/timeout", "crawl/max_pages", "bench/latency"):
        pair(key).check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_text_matches_typer(text: str) -> None:
    for key in ("fetch/concurrency", "fetch/timeout", "fetch/engine", "fetch/out", "fetch/report"):
        pair(key).check(text)
    pair("fetch/url_files").check((text, text))


class _Color(enum.Enum):
    RED = "red"


def _descriptor_of(annotation: Any, default: Any) -> Any:
    """The type descriptor typer makes for one ``--x`` option."""

    def command(x: Any = default) -> None:
        """One option."""

    command.__annotations__ = {"x": annotation, "return": None}  # not a string: no eval
    sub = typer.Typer()
    sub.command()(command)
    built = typer.main.get_command(sub)
    (param,) = [p for p in built.params if p.name == "x"]
    assert isinstance(param, _TyperParameter)
    return param.type_descriptor


@pytest.mark.parametrize(
    ("annotation", "default"),
    [
        (Annotated[int, typer.Option(min=1)], 1),
        (Annotated[float, typer.Option(max=2.0)], 1.0),
        (Annotated[int, typer.Option(parser=int)], 1),
        (_Color, _Color.RED),
        (datetime, None),
        (Annotated[Path, typer.Option(path_type=str)], None),
        (typer.FileText, None),
    ],
)
def test_other_types_keep_typers_path(annotation: Any, default: Any) -> None:
    assert plain_param(_descriptor_of(annotation, default)) is None


def test_plain_types_get_a_plain_param() -> None:
    for annotation in (str, int, float, Path, list[int], list[Path] | None, int | None):
        assert isinstance(plain_param(_descriptor_of(annotation, None)), PlainParam)


def test_the_cli_installs_the_hook() -> None:
    assert _TyperParameter.get_runtime_param is cli_types._get_runtime_param
