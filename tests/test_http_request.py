"""Tests for request encoding (fetchall.http.request)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetchall.errors import InvalidRequestError
from fetchall.http.request import encode_request, quote_target, validate_header


def test_encoding() -> None:
    raw = encode_request("GET", "/a/b?x=1", [("Host", "example.com"), ("X-Empty", "")])
    assert raw == b"GET /a/b?x=1 HTTP/1.0\r\nHost: example.com\r\nX-Empty: \r\n\r\n"


def test_version_and_no_headers() -> None:
    assert encode_request("HEAD", "/", [], "HTTP/1.1") == b"HEAD / HTTP/1.1\r\n\r\n"
    assert encode_request("OPTIONS", "*", []) == b"OPTIONS * HTTP/1.0\r\n\r\n"


def test_names_emitted_as_given_and_latin1_values() -> None:
    raw = encode_request("GET", "/", [("x-CaSe", "caf\u00e9\tyes"), ("Accept", "*/*")])
    assert raw == b"GET / HTTP/1.0\r\nx-CaSe: caf\xe9\tyes\r\nAccept: */*\r\n\r\n"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/plain/path?q=1&r=2#", "/plain/path?q=1&r=2#"),
        ("/a b", "/a%20b"),
        ("/x\r\nHost: evil", "/x%0D%0AHost:%20evil"),
        ("/nul\x00tab\tdel\x7f", "/nul%00tab%09del%7F"),
        ("/caf\u00e9/\u65e5\u672c", "/caf%C3%A9/%E6%97%A5%E6%9C%AC"),
        ("/\U0001f600", "/%F0%9F%98%80"),
        ("/kept%20%2Fescape%e9", "/kept%20%2Fescape%e9"),
        ("/stray%zz%4", "/stray%25zz%254"),
        ("/end%", "/end%25"),
        ("/\x85nel\u2028ls", "/%C2%85nel%E2%80%A8ls"),
    ],
)
def test_target_percent_encoding(target: str, expected: str) -> None:
    assert quote_target(target) == expected
    raw = encode_request("GET", target, [])
    assert raw == f"GET {expected} HTTP/1.0\r\n\r\n".encode("ascii")
    assert raw.count(b"\r\n") == 2
    assert raw.count(b" ") == 2


@pytest.mark.parametrize("target", ["", "/lone\ud800surrogate"])
def test_bad_target(target: str) -> None:
    with pytest.raises(InvalidRequestError):
        encode_request("GET", target, [])


@pytest.mark.parametrize("method", ["", "GE T", "GET\r\n", "GET/", "G\u00c9T", "(GET)", "GET:"])
def test_bad_method(method: str) -> None:
    with pytest.raises(InvalidRequestError, match="method"):
        encode_request(method, "/", [])


@pytest.mark.parametrize("method", ["GET", "POST", "PROPFIND", "x-custom!#$%&'*+.^_`|~"])
def test_token_methods(method: str) -> None:
    assert encode_request(method, "/", []).startswith(method.encode() + b" / ")


@pytest.mark.parametrize("version", ["HTTP/2", "HTTP/1.1\r\nX: y", "", "http/1.1"])
def test_bad_version(version: str) -> None:
    with pytest.raises(InvalidRequestError, match="version"):
        encode_request("GET", "/", [], version)


@pytest.mark.parametrize(
    "name", ["", "X Y", "X:Y", "X\r\nY", "X\x00", "Caf\u00e9", "(x)", "X\t", " X", "a/b"]
)
def test_bad_header_names(name: str) -> None:
    with pytest.raises(InvalidRequestError, match="header name"):
        validate_header(name, "v")
    with pytest.raises(InvalidRequestError):
        encode_request("GET", "/", [("Host", "h"), (name, "v")])


@pytest.mark.parametrize(
    "value", ["a\rb", "a\nb", "a\r\nX-Injected: 1", "nul\x00", "bell\x07", "del\x7f", "\x1b[31m"]
)
def test_bad_header_values(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="X-Test"):
        validate_header("X-Test", value)
    with pytest.raises(InvalidRequestError, match="X-Test"):
        encode_request("GET", "/", [("X-Test", value)])


def test_non_latin1_value_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="latin-1"):
        validate_header("X-Name", "\u65e5\u672c")
    with pytest.raises(InvalidRequestError, match="X-Name"):
        encode_request("GET", "/", [("X-Name", "\u20ac")])


@pytest.mark.parametrize("value", ["", "plain", "tab\there", " spaced ", "\u00ff\u00e9", "a=b; c"])
def test_good_header_values(value: str) -> None:
    validate_header("X-Good", value)


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(codec=None), min_size=1, max_size=30))
def test_quote_target_fast_path_equals_the_regex(target: str) -> None:
    from fetchall.http.request import _TARGET_ESCAPE, _percent_encode

    try:
        expected = _TARGET_ESCAPE.sub(_percent_encode, target)
    except UnicodeEncodeError:
        with pytest.raises(InvalidRequestError):
            quote_target(target)
        return
    assert quote_target(target) == expected


def test_encoded_fields_are_cached_per_tuple_and_still_validated() -> None:
    fields = (("Host", "h"), ("Accept", "*/*"))
    first = encode_request("GET", "/a", fields, "HTTP/1.1")
    again = encode_request("GET", "/b", fields, "HTTP/1.1")  # the cached section
    assert first == b"GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
    assert again == first.replace(b"/a", b"/b")
    assert encode_request("GET", "/a", list(fields), "HTTP/1.1") == first  # a list: not cached
    with pytest.raises(InvalidRequestError):
        encode_request("GET", "/a", (("Bad Name", "x"),))
    with pytest.raises(InvalidRequestError):
        encode_request("GET", "/a", (("X", "a\r\nInjected: 1"),))
    with pytest.raises(InvalidRequestError):
        encode_request("G T", "/a", fields)  # the method is checked even with cached fields
    with pytest.raises(InvalidRequestError):
        encode_request("GET", "/a", fields, "HTTP/x")
