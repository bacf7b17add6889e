"""The optional mypyc build (fetchall/build.py): which build runs, FETCHALL_PURE, stale builds.

`make test` runs the suite with ``FETCHALL_PURE=1`` and `make test-compiled` on a fresh in-place
mypyc build; each sets ``FETCHALL_EXPECT_BUILD``, so a compiled run that silently fell back to
the pure modules fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fetchall import build

PURE_ENV = {**os.environ, "FETCHALL_PURE": "1"}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh interpreter (outside any test's imports)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )


def test_the_expected_build_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fetchall", "--version"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    expected = os.environ.get("FETCHALL_EXPECT_BUILD")
    if expected is None:  # a plain pytest run: whichever build this process runs
        expected = build.running_build()
    assert proc.stdout.strip().endswith(f"({expected})"), proc.stdout


def test_fetchall_pure_imports_every_module_from_its_source() -> None:
    names = ", ".join(repr(m) for m in (*build.COMPILED, "fetchall.http"))
    code = (
        "import importlib\n"
        f"for name in ({names}):\n"
        "    print(importlib.import_module(name).__file__)\n"
        "from fetchall.build import running_build\n"
        "print(running_build())\n"
    )
    proc = run_python(code, PURE_ENV)
    assert proc.returncode == 0, proc.stderr
    *files, which = proc.stdout.splitlines()
    assert len(files) == len(build.COMPILED) + 1
    assert all(f.endswith(".py") for f in files), files
    assert files[-1].endswith(os.path.join("http", "__init__.py"))
    assert which == "pure Python"


def test_the_source_only_finder_leaves_other_packages_alone() -> None:
    finder = build.SourceOnlyFinder()
    assert finder.find_spec("json", None) is None
    assert finder.find_spec("json.decoder", [str(Path(__file__).parent)]) is None
    package = str(Path(build.__file__).parent)
    spec = finder.find_spec("fetchall.urls", [package])
    assert spec is not None and spec.origin == os.path.join(package, "urls.py")
    assert finder.find_spec("fetchall.no_such_module", [package]) is None


def fake_package(tmp_path: Path, compiled: bool) -> str:
    """A package directory with a source per `COMPILED` module (time 1,000,000) and, if
    asked, their shims and the build's library (time 1,000,001); its path."""
    package = str(tmp_path / "fetchall")
    for module in build.COMPILED:
        source = Path(build.source_path(module, package))
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        os.utime(source, (1_000_000, 1_000_000))
        if compiled:
            Path(build.compiled_path(module, package)).write_bytes(b"")
    if compiled:
        Path(build.library_path(package)).write_bytes(b"")
        os.utime(build.library_path(package), (1_000_001, 1_000_001))
    return package


def test_a_pure_install_has_no_stale_modules(tmp_path: Path) -> None:
    assert build.stale_modules(fake_package(tmp_path, compiled=False)) is None


def test_a_current_build_is_kept_and_an_edited_source_makes_it_stale(tmp_path: Path) -> None:
    package = fake_package(tmp_path, compiled=True)
    assert build.stale_modules(package) == []
    edited = build.COMPILED[3]
    # newer by less than STALE_AFTER (a wheel installs both in any order): still current
    os.utime(build.source_path(edited, package), (1_000_002, 1_000_002))
    assert build.stale_modules(package) == []
    os.utime(build.source_path(edited, package), (1_000_010, 1_000_010))
    assert build.stale_modules(package) == [edited]
    missing = build.COMPILED[-1]
    os.remove(build.compiled_path(missing, package))
    assert build.stale_modules(package) == [edited, missing]
    os.remove(build.library_path(package))  # no library: nothing compiled can run
    assert build.stale_modules(package) == list(build.COMPILED)


def test_the_library_sits_in_the_package() -> None:
    assert build.library_path("/x/site-packages/fetchall").startswith(
        "/x/site-packages/fetchall/compiled__mypyc."
    )


def test_a_stale_build_runs_the_pure_modules_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FETCHALL_PURE", raising=False)
    monkeypatch.setattr(build, "stale_modules", lambda: ["fetchall.urls"])
    saved = list(sys.meta_path)
    before = [f for f in saved if not isinstance(f, build.SourceOnlyFinder)]  # FETCHALL_PURE
    sys.meta_path[:] = before
    try:
        build.choose()
        added = [f for f in sys.meta_path if f not in before]
        assert len(added) == 1 and isinstance(added[0], build.SourceOnlyFinder)
        assert "older than their sources (fetchall.urls)" in capsys.readouterr().err
        build.use_pure_modules()  # once only
        assert len([f for f in sys.meta_path if f not in before]) == 1
    finally:
        sys.meta_path[:] = saved


def test_a_current_or_pure_install_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FETCHALL_PURE", raising=False)
    before = list(sys.meta_path)
    for stale in (None, []):
        monkeypatch.setattr(build, "stale_modules", lambda stale=stale: stale)
        build.choose()
        assert sys.meta_path == before
    assert capsys.readouterr().err == ""
