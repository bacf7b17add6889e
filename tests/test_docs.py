"""The documentation stays true to the code: every option of `fetch` and `bench` is in its
table of the docs and every option in those tables exists; README's relative links resolve.
(`make docs` builds the site with --strict, which checks the links inside docs/.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from fetchall.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _command(name: str) -> Any:
    """The click command behind ``fetchall NAME`` (typer vendors its own click)."""
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def _cli_options(command: Any) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        opts = (*param.opts, *getattr(param, "secondary_opts", ()))
        names.update(o for o in opts if o.startswith("--"))
    names.discard("--help")
    return names


def _table_options(page: Path, header: str) -> set[str]:
    """Long options named in the first column of the table whose header row is ``header``."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    names: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        names.update(re.findall(r"(--[a-z][a-z0-9-]*)", first))
    return names


@pytest.mark.parametrize(
    ("command", "page"),
    [("fetch", "fetching.md"), ("bench", "benchmarks.md")],
)
def test_option_tables_match_the_cli(command: str, page: str) -> None:
    documented = _table_options(DOCS / page, "| option | default | meaning |")
    actual = _cli_options(_command(command))
    assert documented - actual == set(), "documented but not an option"
    assert actual - documented == set(), "an option missing from the docs"


def test_readme_relative_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert relative, "README links to the docs pages"
    missing = [t for t in relative if not (ROOT / t.split("#")[0]).exists()]
    assert missing == []


def test_every_docs_page_is_linked_from_the_site_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert [p for p in pages if f": {p}" not in nav] == []
