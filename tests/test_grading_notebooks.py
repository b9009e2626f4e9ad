"""grading.notebooks: the student notebooks made from the masters, and submissions read as data."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from grading import judge, notebooks
from grading.__main__ import _base_url

ROOT = judge.ROOT
NAMES = sorted(p.stem for p in (ROOT / "assignments").glob("*.ipynb"))


def test_every_student_notebook_is_current_and_offered_by_the_book():
    page = (ROOT / "book" / "assignments.md").read_text(encoding="utf-8")
    for name in NAMES:
        fresh = nbformat.writes(notebooks.student_notebook(ROOT / "assignments" / f"{name}.ipynb", _base_url()))
        committed = (ROOT / "assignments" / "student" / f"{name}.ipynb").read_text(encoding="utf-8")
        assert fresh + "\n" == committed or fresh == committed, \
            f"assignments/student/{name}.ipynb is stale: bash tools/assignments.sh generate"
        assert f"../assignments/student/{name}.ipynb" in page, f"book/assignments.md lacks {name}"


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_holds_no_solution_and_no_link_that_breaks_once_downloaded(name):
    text = (ROOT / "assignments" / "student" / f"{name}.ipynb").read_text(encoding="utf-8")
    master = (ROOT / "assignments" / f"{name}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" in master and "SOLUTION" not in text
    sources = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
    links = re.findall(r"\]\(([^)]+)\)", sources)
    assert all(link.startswith(("http://", "https://", "#")) for link in links), links
    assert "../" not in sources


def test_strip_solutions_keeps_the_indentation_and_refuses_unbalanced_markers():
    source = "def f(x):\n    # BEGIN SOLUTION\n    y = x + 1\n    return y\n    # END SOLUTION\n"
    assert notebooks.strip_solutions(source) == "def f(x):\n    ...\n"
    for bad in ("# BEGIN SOLUTION\nx", "x\n# END SOLUTION", "# BEGIN SOLUTION\n# BEGIN SOLUTION\n"):
        with pytest.raises(ValueError):
            notebooks.strip_solutions(bad)


def test_book_links_are_made_absolute_or_plain_text():
    text = "*Chapter 4, [Optimization](../book/04_optimization_based.ipynb).*"
    assert notebooks.book_links(text, "") == "*Chapter 4, Optimization.*"
    assert notebooks.book_links(text, "https://example.org/course/") == \
        "*Chapter 4, [Optimization](https://example.org/course/book/04_optimization_based.html).*"


@pytest.mark.parametrize("name", NAMES)
def test_public_checks_fail_on_the_stubs_and_pass_on_the_solution(name, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("GRADING", "1")                 # a homework's short runs
    if judge.default_data() is not None:
        monkeypatch.setenv("METALIB_DATA", str(judge.default_data().resolve()))
    for kind, nb in (("student", notebooks.student_notebook(ROOT / "assignments" / f"{name}.ipynb")),
                     ("solution", notebooks.solution_notebook(ROOT / "assignments" / f"{name}.ipynb"))):
        NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        checks = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            errors = [o for o in cell.outputs if o.output_type == "error"]
            public = "public-check" in cell.metadata.get("tags", [])
            checks += public
            if kind == "student" and public:
                assert errors, f"{name}: the public check in cell {index} passes on the stubs"
            elif kind == "solution" or "setup" in cell.metadata.get("tags", []):
                assert not errors, f"{name} ({kind}): cell {index} raised {errors[0].ename}: {errors[0].evalue}"
        assert checks >= 2, name


def test_a_submission_that_is_not_a_notebook_is_refused_with_the_fix(tmp_path):
    cases = {"answers.py": "print(1)", "broken.ipynb": "{not json", "empty.ipynb": json.dumps({"cells": 3})}
    for file, text in cases.items():
        (tmp_path / file).write_text(text)
        with pytest.raises(notebooks.NotANotebook, match="hand in|Download|save it"):
            notebooks.code_cells(tmp_path / file)


def test_code_cells_keep_their_position_in_the_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# a"), nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell(["y = ", "2"])])
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert notebooks.code_cells(tmp_path / "a.ipynb") == [(1, "x = 1"), (2, "y = 2")]


@pytest.mark.parametrize("name", NAMES)
def test_written_questions_match_their_rubric(name):
    assignment = judge.load(name)
    cells = [c for c in nbformat.read(assignment.master, as_version=4).cells if "written" in c.metadata.get("tags", [])]
    assert [(c.metadata["question"], c.metadata["points"]) for c in cells] == \
        [(q["name"], q["points"]) for q in assignment.manual]
    assert all(q["rubric"] for q in assignment.manual)
