"""The protocol core, the policy, the limiter and the robots.txt rules do no I/O: they import no
I/O module (and the limiter reads no clock: it is given the time)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fetchall"
PURE = [
    *sorted((PACKAGE / "http").glob("*.py")),
    PACKAGE / "policy.py",
    PACKAGE / "limits.py",
    PACKAGE / "robots.py",
    PACKAGE / "urls.py",
    PACKAGE / "caches.py",
    PACKAGE / "pickling.py",
    PACKAGE / "output" / "paths.py",
]
FORBIDDEN = {
    "socket", "ssl", "selectors", "select", "asyncio", "threading", "multiprocessing",
    "concurrent", "subprocess", "time", "os", "io", "aiohttp", "fetchall.engines",
    "fetchall.runner", "fetchall.output.writer",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_io(path: Path) -> None:
    bad = {
        name
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{path.name} imports I/O modules: {sorted(bad)}"


def test_pure_modules_do_not_call_sleep_or_open() -> None:
    for path in PURE:
        text = path.read_text(encoding="utf-8")
        assert "sleep(" not in text and "open(" not in text, path
