"""Guards on the notebooks' stored outputs, which the book renders without executing.

nbval (run by ``tools/test.sh``) proves that today's code reproduces the stored outputs; these tests
prove that the stored outputs are worth reproducing: one in-order run of every cell (a notebook saved
without outputs would pass strict nbval silently), no error output, a form the web page can show for
every widget, figures whose text is readable at the page's width, code lines that fit the page, and
no remarks about the tests in the code a reader sees. ``tools/regenerate.sh`` writes notebooks that
pass.
"""
from __future__ import annotations

import ast
import base64
import json
import re
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").glob("*.ipynb") if not p.name.startswith("."))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# A widget output in the web page is shown by its other form (_config.yml): the frames of
# metalib.controls (text/html) or the finished line of a progress bar (metalib.progress).
FINISHED_PROGRESS = re.compile(r"^.+: \d+/\d+ steps in \d+\.\d s$")
# Figures: the content column of a 1280-pixel window is COLUMN_PX wide (tests/test_book_in_browser.py
# measures it); a wider figure is shrunk to fit. Its smallest text, as shown, must be MIN_TEXT_PX or
# more. Figures are drawn at 100 dpi (metalib.plotting.use_book_style), whose smallest default text
# is 10 pt; a cell may ask for smaller text with fontsize=.
COLUMN_PX = 688
MIN_TEXT_PX = 9.0
DPI = 100
DEFAULT_TEXT_PT = 10.0
NAMED_SIZES = {"xx-small": 5.79, "x-small": 6.94, "small": 8.33, "medium": 10.0, "large": 12.0,
               "x-large": 14.4, "xx-large": 17.28}
FONTSIZE = re.compile(r"fontsize\s*=\s*(?:([0-9.]+)|[\"']([a-z-]+)[\"'])")
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
    for number, cell in enumerate(code_cells(notebook), start=1):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error" and "raises-exception" not in tags(cell):
                problems.append(f"code cell {number} stores an error ({output.get('ename')}) and "
                                "is not tagged raises-exception")
            data = output.get("data", {})
            text = "".join(data.get("text/plain", ""))
            if WIDGET_VIEW in data and "text/html" not in data and not FINISHED_PROGRESS.match(text):
                problems.append(f"code cell {number} shows a widget the web page cannot show "
                                f"({text[:60]!r}): use metalib.controls.interact for sliders, "
                                "metalib.train's progress bar for loops")
        source = "".join(cell["source"])
        if "nbval" in source:
            problems.append(f"code cell {number} talks about nbval in its code; put the reason for "
                            "its tag in the cell's metadata, nbval-why")
        if is_assertion_cell(cell) and "hide-input" not in tags(cell):
            problems.append(f"code cell {number} only checks claims (asserts, no output) and is not "
                            "folded like the others (tag hide-input)")
        if "nbval-ignore-output" in tags(cell) and not cell.get("metadata", {}).get("nbval-why"):
            problems.append(f"code cell {number}'s output is not compared and its metadata does not "
                            "say why (nbval-why)")
    return problems


def is_assertion_cell(cell: dict) -> bool:
    """A cell that asserts and shows nothing: every chapter folds these (tag hide-input)."""
    if cell.get("outputs"):
        return False
    try:
        tree = ast.parse("".join(cell["source"]))
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def png_width(data: str) -> int:
    """The width in pixels of a base64 PNG (from its IHDR chunk)."""
    head = base64.b64decode(data[:64])
    return struct.unpack(">I", head[16:20])[0]


def smallest_text_pt(source: str) -> float:
    sizes = [float(number) if number else NAMED_SIZES.get(name, DEFAULT_TEXT_PT)
             for number, name in FONTSIZE.findall(source)]
    return min([DEFAULT_TEXT_PT, *sizes])


def small_figure_text(notebook: dict) -> list[str]:
    """Figures whose smallest text is under MIN_TEXT_PX as shown in the column at 1280 px."""
    found = []
    for number, cell in enumerate(code_cells(notebook), start=1):
        points = smallest_text_pt("".join(cell["source"]))
        for output in cell.get("outputs", []):
            image = output.get("data", {}).get("image/png")
            if not image:
                continue
            width = png_width(image)
            shown = points * DPI / 72 * min(1.0, COLUMN_PX / width)
            if shown < MIN_TEXT_PX:
                found.append(f"code cell {number}: a {width}-pixel figure with {points:g}-pt text "
                             f"shows it at {shown:.1f} px")
    return found


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
def test_figure_text_is_readable(path):
    small = small_figure_text(load(path))
    assert not small, (f"{path.name}: figure text under {MIN_TEXT_PX:g} px in a {COLUMN_PX}-pixel "
                       "column; draw the figure narrower or its text larger:\n" + "\n".join(small))


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
    output = {"output_type": "display_data", "metadata": {},
              "data": {WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "IntSlider(value=3)"}}
    code_cells(widget)[0]["outputs"] = [output]
    assert "a widget the web page cannot show" in notebook_problems(widget)[0]
    output["data"]["text/plain"] = "MAML: 0/2000 steps"   # a bar whose finished line was not stored
    assert "a widget the web page cannot show" in notebook_problems(widget)[0]
    output["data"]["text/plain"] = "MAML: 2000/2000 steps in 41.3 s"
    assert notebook_problems(widget) == []
    output["data"]["text/plain"] = "interactive(...)"
    output["data"]["text/html"] = "<div>frames</div>"
    assert notebook_problems(widget) == []

    loose = _clean_notebook()
    code_cells(loose)[0]["metadata"]["tags"] = ["nbval-ignore-output"]
    assert "does not say why" in notebook_problems(loose)[0]
    code_cells(loose)[0]["metadata"]["nbval-why"] = "training noise"
    assert notebook_problems(loose) == []
    code_cells(loose)[0]["source"] = "# not compared by nbval: noise\n1"
    assert "talks about nbval" in notebook_problems(loose)[0]

    def png(width: int) -> str:
        return base64.b64encode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + struct.pack(">II", width, 300)
                                + b"\0" * 40).decode()

    figure = _clean_notebook()
    cell = code_cells(figure)[0]
    cell["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": png(1190)}}]
    assert "1190-pixel figure with 10-pt text shows it at 8.0 px" in small_figure_text(figure)[0]
    cell["outputs"][0]["data"]["image/png"] = png(600)
    assert small_figure_text(figure) == []
    cell["source"] = "ax.legend(fontsize=7)"            # 7 pt unshrunk: 9.7 px
    assert small_figure_text(figure) == []
    cell["outputs"][0]["data"]["image/png"] = png(1000)
    cell["source"] = 'ax.legend(fontsize="x-small")'     # 6.94 pt shrunk to 688 / 1000: 6.6 px
    assert "6.94-pt text shows it at 6.6 px" in small_figure_text(figure)[0]

    unfolded = _clean_notebook()
    code_cells(unfolded)[0]["source"] = "x = 1\nassert x == 1"
    assert "is not folded like the others" in notebook_problems(unfolded)[0]
    code_cells(unfolded)[0]["metadata"]["tags"] = ["hide-input"]
    assert notebook_problems(unfolded) == []

    other_kernel = _clean_notebook()
    other_kernel["metadata"]["kernelspec"]["name"] = "conda-env"
    assert notebook_problems(other_kernel) == ["kernel is not 'python3'"]
