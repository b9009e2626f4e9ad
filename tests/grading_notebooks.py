"""Submissions for the grading tests: the solution, the blank student notebook, and edits of them."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat

from grading import judge, notebooks


def solution(name: str) -> nbformat.NotebookNode:
    return notebooks.solution_notebook(judge.load(name).master)


def blank(name: str) -> nbformat.NotebookNode:
    return notebooks.student_notebook(judge.load(name).master)


def answer_cell(nb: nbformat.NotebookNode, defines: str) -> nbformat.NotebookNode:
    """The code cell that defines `defines` (a function or class name)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and (f"def {defines}(" in cell.source or f"class {defines}(" in cell.source):
            return cell
    raise KeyError(defines)


def replace(nb: nbformat.NotebookNode, defines: str, source: str) -> nbformat.NotebookNode:
    answer_cell(nb, defines).source = source
    return nb


def add_cell(nb: nbformat.NotebookNode, source: str, after: str | None = None) -> nbformat.NotebookNode:
    """Insert a new code cell below the cell defining `after` (default: at the end)."""
    cell = nbformat.v4.new_code_cell(source)
    if after is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(nb.cells.index(answer_cell(nb, after)) + 1, cell)
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def grade(name: str, nb: nbformat.NotebookNode, tmp: Path, **limits) -> dict:
    """Grade `nb` as a submission of assignment `name` (with shorter time limits if given)."""
    assignment = judge.load(name)
    if limits:
        assignment = dataclasses.replace(assignment, **limits)
    path = write(nb, tmp / f"{name}.ipynb")
    result = judge.grade(assignment, path, log=tmp / "log.txt")
    result["log"] = (tmp / "log.txt").read_text(errors="replace")
    return result


def points(result: dict) -> dict[str, float]:
    return {q["name"]: q["points"] for q in result["questions"]}
