"""Frozen dataclasses pickle and copy through their ``__init__`` (fetchall/pickling.py), so the
`processes` engine's jobs cross processes in the pure and the compiled build alike."""

from __future__ import annotations

import copy
import pickle

import pytest

from fetchall.errors import BadURLError
from fetchall.http.parser import End
from fetchall.pickling import rebuild_args
from fetchall.policy import (
    Attempt,
    Conditional,
    Final,
    Outcome,
    PolicySettings,
    Request,
    Resume,
    Sleep,
)
from fetchall.urls import BadLine, UrlLine, parse_url

TARGET = parse_url("http://[::1]:8080/a?b=1")
REQUEST = Request(TARGET, (("User-Agent", "fetchall"),), body_limit=10)
RESUME = Resume(("http", "::1", 8080), frozenset({"http://[::1]:8080/a?b=1"}), 2, 1)
VALUES = [
    TARGET,
    UrlLine(TARGET, "urls.txt", 3),
    BadLine("nope", "urls.txt", 4, BadURLError("not a URL")),
    End(),
    REQUEST,
    Attempt(REQUEST, 2),
    Sleep(0.5),
    Conditional("http://x/", etag='"e"'),
    RESUME,
    Final(REQUEST, Outcome(status=200, size=3), None, 1, 0, RESUME),
    PolicySettings(retries=5, extra_headers=(("A", "b"),)),
]


def same(a: object, b: object) -> bool:
    """Equal field by field (PolicySettings and the exception inside BadLine compare by id)."""
    fields = getattr(type(a), "__dataclass_fields__", {})
    return type(a) is type(b) and all(
        repr(getattr(a, name)) == repr(getattr(b, name)) for name in fields
    )


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_frozen_dataclasses_survive_pickle_and_copy(value: object) -> None:
    for again in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
        assert same(again, value)


def test_a_derived_field_is_carried_not_recomputed_wrongly() -> None:
    again = pickle.loads(pickle.dumps(TARGET))
    assert again.host_key == TARGET.host_key == "[::1]:8080"
    assert again == TARGET and hash(again) == hash(TARGET)
    line = pickle.loads(pickle.dumps(UrlLine(TARGET, "urls.txt", 3)))
    assert line.text == TARGET.url


def test_rebuild_args_are_the_init_fields_in_order() -> None:
    assert rebuild_args(Sleep(1.5)) == (Sleep, (1.5,))
    assert rebuild_args(TARGET) == (
        type(TARGET),
        ("http://[::1]:8080/a?b=1", "http", "::1", 8080, "/a?b=1", "[::1]:8080"),
    )
