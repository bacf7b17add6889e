"""The crawl script shown in the README (and docs/crawl.md, the same) runs as written against
the demo site, and writes one item per HTML page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fetchall.server.thread import SiteThread

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


def script_in(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index("```python\n# crawl_titles.py") + len("```python\n")
    return text[start : text.index("```", start)]


def test_readme_crawl_script(tmp_path: Path) -> None:
    script = script_in(ROOT / "README.md")
    assert script == script_in(ROOT / "docs" / "crawl.md")
    assert len(script.strip().splitlines()) <= 16
    (tmp_path / "crawl_titles.py").write_text(script, encoding="utf-8")
    with SiteThread() as site:
        proc = subprocess.run(
            [sys.executable, "crawl_titles.py", site.site.a + "/"], cwd=tmp_path,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "19 ok, 2 failed, 18 items in demo-site/items.jsonl" in proc.stdout, proc.stdout
    items = [
        json.loads(line) for line in (tmp_path / "demo-site/items.jsonl").read_text().splitlines()
    ]
    home = next(item for item in items if item["url"] == site.site.a + "/")
    assert home == {"url": site.site.a + "/", "title": "Home A", "links": 14}
