"""Guards on the notebooks' stored outputs, which the book renders without executing.

nbval (run by ``tools/test.sh``) proves that today's code reproduces the stored outputs; these tests
prove that the stored outputs are worth reproducing: one in-order run of every cell (a notebook saved
without outputs would pass strict nbval silently), no error output, the widget state the HTML book
needs, and code lines that fit the page. ``tools/regenerate.sh`` writes notebooks that pass.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").glob("*.ipynb") if not p.name.startswith("."))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The widest code line the built book shows without a horizontal scroll bar (measured in headless
# Chromium by tests/test_book_in_browser.py, which fails on any code block that scrolls).
MAX_CODE_LINE = 88


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def notebook_problems(notebook: dict) -> list[str]:
    """What is wrong with a notebook's stored outputs, one line each (empty when nothing is)."""
    problems = []
    if notebook.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append("kernel is not 'python3'")
    counts = [cell.get("execution_count") for cell in code_cells(notebook)]
    if counts != list(range(1, len(counts) + 1)):
        problems.append(f"execution counts are {counts}, not 1..{len(counts)}: the stored outputs "
                        "are not one in-order run of every cell")
    views = set()
    for number, cell in enumerate(code_cells(notebook), start=1):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error" and "raises-exception" not in tags(cell):
                problems.append(f"code cell {number} stores an error ({output.get('ename')}) and "
                                "is not tagged raises-exception")
            if WIDGET_VIEW in output.get("data", {}):
                views.add(output["data"][WIDGET_VIEW]["model_id"])
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    missing = sorted(views - set(state))
    if missing:
        problems.append(f"{len(missing)} widget view(s) without stored widget state (e.g. "
                        f"{missing[0]}): the HTML book would show them as text")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_one_clean_run(path):
    problems = notebook_problems(load(path))
    assert not problems, (f"{path.name}: " + "; ".join(problems)
                          + f". Regenerate it: bash tools/regenerate.sh book/{path.name}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(path):
    long_lines = [f"code cell {number}: {len(line)} characters: {line.strip()[:50]}..."
                  for number, cell in enumerate(code_cells(load(path)), start=1)
                  for line in "".join(cell["source"]).splitlines() if len(line) > MAX_CODE_LINE]
    assert not long_lines, (f"{path.name}: {len(long_lines)} code line(s) longer than {MAX_CODE_LINE} "
                            "characters scroll sideways in the book:\n" + "\n".join(long_lines[:10]))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_absolute_paths_in_outputs(path):
    text = json.dumps([cell.get("outputs", []) for cell in code_cells(load(path))])
    found = re.findall(r"(?:/home/|/work/|/tmp/|/root/|[A-Z]:\\\\Users)[^\s\"']*", text)
    assert not found, f"{path.name}: outputs name paths of the machine that ran it: {found[:3]}"


def _clean_notebook() -> dict:
    return {"metadata": {"kernelspec": {"name": "python3"}}, "cells": [
        {"cell_type": "markdown", "source": "# title", "metadata": {}},
        {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "1", "outputs": []},
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": "2", "outputs": []}]}


def test_the_guard_catches_what_it_should():
    assert notebook_problems(_clean_notebook()) == []

    unexecuted = _clean_notebook()
    for cell in code_cells(unexecuted):
        cell["execution_count"] = None
    assert "not one in-order run" in notebook_problems(unexecuted)[0]

    out_of_order = _clean_notebook()
    code_cells(out_of_order)[0]["execution_count"] = 3
    assert "not one in-order run" in notebook_problems(out_of_order)[0]

    failed = _clean_notebook()
    code_cells(failed)[1]["outputs"] = [{"output_type": "error", "ename": "ValueError"}]
    assert "stores an error (ValueError)" in notebook_problems(failed)[0]
    code_cells(failed)[1]["metadata"]["tags"] = ["raises-exception"]
    assert notebook_problems(failed) == []

    widget = _clean_notebook()
    code_cells(widget)[0]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                         "data": {WIDGET_VIEW: {"model_id": "abc"}}}]
    assert "without stored widget state" in notebook_problems(widget)[0]
    widget["metadata"]["widgets"] = {WIDGET_STATE: {"state": {"abc": {}}}}
    assert notebook_problems(widget) == []

    other_kernel = _clean_notebook()
    other_kernel["metadata"]["kernelspec"]["name"] = "conda-env"
    assert notebook_problems(other_kernel) == ["kernel is not 'python3'"]
