"""URL -> safe relative path, and vetting of callback paths (fetchall.output.paths)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetchall.errors import BadURLError
from fetchall.output.paths import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    safe_relpath,
    split_ext,
    url_to_relpath,
)
from fetchall.urls import parse_url

H = r"[0-9a-f]{8}"


def rel(url: str) -> str:
    return url_to_relpath(parse_url(url))


TABLE = [
    ("http://h/", "h/index.html"),
    ("http://h", "h/index.html"),
    ("http://h/a/b/", "h/a/b/index.html"),
    ("http://h/a/b.html", "h/a/b.html"),
    ("http://h/some-dir/file_1.tar.gz", "h/some-dir/file_1.tar.gz"),
    ("https://h:443/x", "h/x"),
    ("http://h:80/x", "h/x"),
    ("http://h:8080/x", "h_8080/x"),
    ("https://h:80/x", "h_80/x"),
    ("http://[::1]/x", r"\[__1\]/x"),
    ("http://[::1]:8080/x", r"\[__1\]_8080/x"),
    ("http://[2001:db8::1]/", r"\[2001_db8__1\]/index\.html"),
    ("http://bücher.example/", "xn--bcher-kva.example/index.html"),
    ("http://h/b%C3%BCcher/x%20y", "h/bücher/x y"),
    ("http://h/a b", "h/a b"),
    ("http://h/page.php?id=3", rf"h/page_id=3_{H}\.php"),
    ("http://h/list?x=1", rf"h/list_x=1_{H}"),
    ("http://h/?x=1", rf"h/index_x=1_{H}\.html"),
    ("http://h/list?", rf"h/list__{H}"),
    ("http://h/q?a/b%2Fc", rf"h/q_a_b_c_{H}"),
    ("http://h/%2e%2e/x", rf"h/__~{H}/x"),
    ("http://h/%2E/x", rf"h/_~{H}/x"),
    ("http://h/a%2Fb", rf"h/a_b~{H}"),
    ("http://h/a%5Cb", rf"h/a_b~{H}"),
    ("http://h/a%00b", rf"h/a_b~{H}"),
    ("http://h/a%0d%0ab", rf"h/a__b~{H}"),
    ("http://h/.hidden", rf"h/_hidden~{H}"),
    ("http://h/...", rf"h/___~{H}"),
    ("http://h/x.", rf"h/x_~{H}"),
    ("http://h/x%20", rf"h/x_~{H}"),
    ("http://h/%20x", rf"h/_x~{H}"),
    ("http://h/a//b", rf"h/a/_~{H}/b"),
    ("http://h/%41", rf"h/A~{H}"),
    ("http://h/%ff", rf"h/\ufffd~{H}"),
    ("http://h/f~deadbeef.txt", rf"h/f~deadbeef~{H}\.txt"),
    ("http://h/evil%E2%80%AEfdp.exe", rf"h/evil_fdp~{H}\.exe"),
    ("http://my_host/x", rf"my_host~{H}/x"),
    ("http://example.com./x", rf"example\.com_~{H}/x"),
]


@pytest.mark.parametrize(("url", "pattern"), TABLE)
def test_url_to_relpath_table(url: str, pattern: str) -> None:
    result = rel(url)
    assert re.fullmatch(pattern, result), result
    assert rel(url) == result  # deterministic
    _assert_safe(result)


def _assert_safe(path: str) -> None:
    assert path and not path.startswith("/")
    parts = path.split("/")
    assert all(part not in ("", ".", "..") for part in parts)
    assert all(len(part.encode()) <= MAX_COMPONENT_BYTES for part in parts)
    assert len(path.encode()) <= MAX_PATH_BYTES
    assert not re.search(r"[\x00-\x1f\x7f\\]", path)
    assert all(not part.startswith(".") and not part.endswith((".", " ")) for part in parts)


def test_query_hash_distinguishes_queries() -> None:
    a, b = rel("http://h/list?x=1"), rel("http://h/list?x=2")
    assert a != b
    assert rel("http://h/list") == "h/list"
    assert rel("http://h/list?") not in (a, b, "h/list")


def test_query_is_bounded_and_slash_free() -> None:
    result = rel("http://h/s.cgi?" + "q/" * 200)
    name = result.split("/")[-1]
    assert name.startswith("s_q_q_") and name.endswith(".cgi")
    assert len(name) <= 1 + 60 + 1 + 8 + len("s") + len(".cgi") + 1


def test_long_component_is_truncated_with_hash_and_keeps_extension() -> None:
    a = rel("http://h/" + "x" * 300 + ".html")
    b = rel("http://h/" + "x" * 301 + ".html")
    assert a != b
    for path in (a, b):
        name = path.split("/")[-1]
        assert len(name.encode()) <= MAX_COMPONENT_BYTES and name.endswith(".html")
        assert re.search(rf"~{H}\.html$", name)


def test_long_multibyte_component_cut_on_character_boundary() -> None:
    name = rel("http://h/" + "ü" * 200).split("/")[-1]
    assert len(name.encode()) <= MAX_COMPONENT_BYTES
    assert name.encode().decode() == name  # valid UTF-8
    assert name.startswith("ü" * 60)


def test_very_deep_path_is_folded() -> None:
    deep = "http://h/" + "/".join(["d" * 100] * 30) + "/file.txt"
    other = "http://h/" + "/".join(["d" * 100] * 29 + ["e" * 100]) + "/file.txt"
    a, b = rel(deep), rel(other)
    _assert_safe(a)
    assert a != b
    assert a.startswith("h/" + "d" * 100 + "/") and a.endswith("/file.txt")
    assert re.search(r"/~[0-9a-f]{16}/file\.txt$", a)


def test_split_ext() -> None:
    assert split_ext("page.php") == ("page", ".php")
    assert split_ext("a.tar.gz") == ("a.tar", ".gz")
    assert split_ext(".profile") == (".profile", "")
    assert split_ext("noext") == ("noext", "")
    assert split_ext("x.not-an-ext") == ("x.not-an-ext", "")
    assert split_ext("x.verylongextension") == ("x.verylongextension", "")


SAFE = [
    ("a/b.json", "a/b.json"),
    ("api\\x\\y.json", "api/x/y.json"),
    ("./a//b/./c", "a/b/c"),
    ("a/", "a"),
    ("..foo/bar..", "..foo/bar.."),
]


@pytest.mark.parametrize(("given_path", "expected"), SAFE)
def test_safe_relpath_ok(given_path: str, expected: str) -> None:
    assert safe_relpath(given_path) == expected


@pytest.mark.parametrize(
    ("given_path", "message"),
    [
        ("", "empty"),
        ("./.", "empty"),
        ("/etc/passwd", "relative"),
        ("\\\\server\\share", "relative"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a\\..\\x", "'..'"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
    ],
)
def test_safe_relpath_rejects(given_path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        safe_relpath(given_path)


# ------------------------------------------------------------------------- properties

_PIECES = [*"aA.%2eEfF/\\?#~ _-:\x00\n\u00fc\u202e", "%2e", "%2F", "%41", "..", "index.html"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


def _target(path: str, query: str | None) -> str:
    return f"http://h.example/{path}" + (f"?{query}" if query is not None else "")


@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=30)))
def test_relpath_is_safe_and_deterministic(path: str, query: str | None) -> None:
    try:
        target = parse_url(_target(path, query))
    except BadURLError:
        return
    first = url_to_relpath(target)
    assert url_to_relpath(parse_url(target.url)) == first
    _assert_safe(first)


@settings(max_examples=300)
@given(st.sets(st.tuples(_TEXT, st.one_of(st.none(), _TEXT)), min_size=2, max_size=25))
def test_distinct_urls_get_distinct_paths(pairs: set[tuple[str, str | None]]) -> None:
    by_key: dict[str, str] = {}
    for path, query in pairs:
        try:
            target = parse_url(_target(path, query))
        except BadURLError:
            continue
        # wget's one shared name: "/d/" and "/d/index.html" (OutputDir separates them in a run).
        url_path, qmark, url_query = target.target.partition("?")
        if url_path.endswith("/"):
            url_path += "index.html"
        by_key.setdefault(url_path + qmark + url_query, url_to_relpath(target))
    paths = list(by_key.values())
    assert len(set(paths)) == len(paths), by_key
