"""Start-up of a plain fetch: the modules it no longer imports (pydantic above all), and proof
that the start-up cuts changed nothing a user sees: the command line's output and exit status
with the cuts equal typer's own path (pydantic, every command built) in the same code, and the
faster ``_TARGET_ESCAPE`` matches what the old pattern matched. No timing here (see
benchmarks/startup.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetchall.http import request

pytestmark = pytest.mark.timeout(120)

NOT_IMPORTED = (
    "pydantic", "pydantic_core", "typer._adapters",  # fetchall.cli_types
    "email.utils", "decimal", "runpy",  # imported where they are used
)  # fmt: skip
"""Modules a plain ``fetchall fetch EMPTY -q -e keepalive`` does not import."""

RUN_MAIN = textwrap.dedent(
    """
    import json, sys
    from fetchall.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
    """
)

RUN_CASES = textwrap.dedent(
    """
    import contextlib, io, json, logging, os, sys
    mode, cases = sys.argv[1], json.loads(sys.argv[2])
    if mode == "typer":  # typer's own path: no hook, so pydantic; every command built
        import fetchall.cli_types
        fetchall.cli_types.install = lambda: None
    import typer
    import fetchall.cli as cli
    if mode == "typer":
        cli._click_command = lambda name: typer.main.get_command(cli.app)
    results = []
    for argv, env in cases:
        os.environ.update(env)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(argv)
            except SystemExit as exc:
                code = exc.code
        for name in env:
            del os.environ[name]
        logging.getLogger("fetchall").handlers.clear()  # main() adds one per call
        results.append([argv, code, out.getvalue(), err.getvalue()])
    print(json.dumps({"results": results, "pydantic": "pydantic" in sys.modules}))
    """
)


def _python(code: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("_FETCHALL_COMPLETE", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=100, check=True,
    )  # fmt: skip
    return proc.stdout.splitlines()[-1]


@pytest.mark.parametrize("engine", ["keepalive", None])
def test_a_plain_fetch_imports_no_pydantic(tmp_path: Path, engine: str | None) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    argv = ["fetch", str(empty), "-q", *(["-e", engine] if engine else [])]
    seen = json.loads(_python(RUN_MAIN, *argv, cwd=tmp_path))
    assert seen["code"] == 0
    modules = set(seen["modules"])
    assert "fetchall.cli_types" in modules and "fetchall.runner" in modules  # it did run
    assert "pydantic" not in modules and "typer._adapters" not in modules
    if engine == "keepalive":  # the default engine (aiohttp) imports email.utils itself
        assert not modules & set(NOT_IMPORTED)


def _cases(empty: str) -> list[tuple[list[str], dict[str, str]]]:
    """Command lines (and environment) whose output must not change."""
    plain = ["fetch", empty, "-q", "-e", "keepalive"]
    helps: list[list[str]] = [[], ["--help"], ["-h"], ["--version"], ["nosuch"], ["fetch"]]
    helps += [[name, "--help"] for name in ("fetch", "crawl", "serve", "demo", "bench", "status")]
    helps += [
        ["engines", "--help"],
        ["crawl"],
        ["fetch", "--nosuch"],
        ["--show-completion", "bash"],
    ]
    values = {
        "-c": ["abc", "5.5", " 5 ", "1_000", "0x10", "", "5.0", "+5", "-5", "٣", "9" * 30, "--"],
        "--per-host": ["x", "1.5"],
        "--retries": ["", "-1"],
        "--timeout": ["abc", "1e400", "nan", "-inf", " 2 ", "1_0.5", "1,5", "", ".5", "5.", "-0"],
        "--retry-after-cap": ["x", "-1"],
        "--out": ["", "\udcff"],
        "--report": [""],
        "--cacert": ["/nonexistent", "", "/"],
        "--callbacks": ["/nonexistent"],
        "--max-size": ["abc", "10M"],
        "-H": ["bad", "X-A: b"],
    }
    lines = [*helps, plain, [empty, "-q", "-e", "keepalive"], [*plain, "--timeout"]]
    lines += [[*plain, option, value] for option, texts in values.items() for value in texts]
    lines += [
        ["crawl", "x", "--depth", "abc"], ["crawl", "x", "--max-pages", "1.5"],
        ["serve", "--port", "abc"], ["serve", "--latency", "x"], ["serve", "--jitter", "nan"],
        ["demo", "fetch", "--latency", "x"], ["bench", "--count", "abc"],
        ["bench", "--repeat", "1.5"], ["bench", "--run-timeout", "q"],
        ["status", "/nonexistent", "--json"], ["status", "--state", ""],
    ]  # fmt: skip
    cases: list[tuple[list[str], dict[str, str]]] = [(line, {}) for line in lines]
    for words, cword in [("fetchall fetch --eng", 2), ("fetchall fetch -e ke", 3),
                         ("fetchall ", 1), ("fetchall fetch x --ti", 3)]:  # fmt: skip
        env = {"_FETCHALL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        cases.append(([], env))
    return cases


def test_output_equals_typers_own_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    cases = json.dumps(_cases(str(empty)))
    runs: dict[str, Any] = {}
    for mode in ("cuts", "typer"):
        (tmp_path / mode).mkdir()
        runs[mode] = json.loads(_python(RUN_CASES, mode, cases, cwd=tmp_path / mode))
    assert runs["typer"]["pydantic"]  # the reference did go through pydantic
    for mine, typers in zip(runs["cuts"]["results"], runs["typer"]["results"], strict=True):
        assert mine == typers
    by_line = {" ".join(argv): (code, err) for argv, code, _, err in runs["cuts"]["results"]}
    code, err = by_line[f"fetch {empty} -q -e keepalive -c abc"]
    assert code == 2 and err == (
        "fetchall: error: Invalid value for '--concurrency' / '-c': Input should be a valid "
        "integer, unable to parse string as an integer\n"
    )
    code, err = by_line[f"fetch {empty} -q -e keepalive --timeout abc"]
    assert code == 2 and err == (
        "fetchall: error: Invalid value for '--timeout': Input should be a valid number, "
        "unable to parse string as a number\n"
    )
    assert by_line[f"fetch {empty} -q -e keepalive -c  5 "] == (0, "")


# The pattern request._TARGET_ESCAPE replaced (same set of characters, 25 times slower to build).
_OLD_TARGET_ESCAPE = re.compile(r"[\x00-\x20\x7f-\U0010ffff]+|%(?![0-9A-Fa-f]{2})")


def test_target_escape_matches_the_same_characters() -> None:
    """Every code point, alone and after a ``%``: the same match as the old pattern."""
    new, old = request._TARGET_ESCAPE, _OLD_TARGET_ESCAPE
    for code in range(0x110000):  # bounded: 1,114,112 code points
        char = chr(code)
        assert bool(new.fullmatch(char)) == bool(old.fullmatch(char)), hex(code)
    for text in ("%", "%4", "%41", "%4G", "%%41", "a%zz", "%\x7f1"):
        assert new.findall(text) == old.findall(text), text


_BOUNDARY = st.sampled_from("\x00\x1f\x20\x21%~\x7e\x7f\x80\xff\u0100\ud7ff\ue000\uffff\U0010ffff")


@settings(max_examples=500, deadline=None)
@given(st.text(st.one_of(_BOUNDARY, st.sampled_from("0aFg%"), st.characters()), max_size=40))
def test_target_escape_finds_the_same_runs(text: str) -> None:
    new, old = request._TARGET_ESCAPE, _OLD_TARGET_ESCAPE
    assert [m.span() for m in new.finditer(text)] == [m.span() for m in old.finditer(text)]


RUN_MAIN_FROZEN = RUN_MAIN.replace(
    '"modules": sorted(sys.modules)', '"frozen": __import__("gc").get_freeze_count()'
)


def test_the_program_freezes_start_up_objects_and_an_in_process_invocation_does_not(
    tmp_path: Path,
) -> None:
    """``fetchall`` (the program) moves what start-up made out of the collector's reach before
    a run; the same command invoked in another program's process (typer's test runner here)
    leaves that process's objects alone."""
    (tmp_path / "empty.txt").write_text("")
    argv = ["fetch", "empty.txt", "-q", "-e", "keepalive", "-o", "out"]
    frozen = json.loads(_python(RUN_MAIN_FROZEN, *argv, cwd=tmp_path))
    assert frozen["code"] == 0 and frozen["frozen"] > 10_000  # the modules' objects, at least
    invoked = _python(
        "import gc, sys\n"
        "from typer.testing import CliRunner\n"
        "from fetchall.cli import app\n"
        "result = CliRunner().invoke(app, sys.argv[1:])\n"
        "print(result.exit_code, gc.get_freeze_count())",
        *argv,
        cwd=tmp_path,
    )
    assert invoked == "0 0"
