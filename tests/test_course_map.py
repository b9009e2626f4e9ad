"""The intro's course map (book/_static/course-map.svg) is the one tools/course_map.py draws."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import course_map  # noqa: E402


def test_the_stored_map_is_current():
    assert course_map.OUT.read_text(encoding="utf-8") == course_map.draw(), \
        "book/_static/course-map.svg is stale: run .venv/bin/python tools/course_map.py"


def test_every_chapter_is_on_the_map():
    chapters = {p.name.split("_")[0] for p in (ROOT / "book").glob("[0-9]*.ipynb")}
    on_map = {name[0] if name != "5b" else "5" for name in course_map.BOXES}
    assert {c.lstrip("0") for c in chapters} <= on_map
    assert all(a in course_map.BOXES and b in course_map.BOXES for a, b in course_map.EDGES)
