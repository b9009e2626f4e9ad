"""The graded assignments (assignments/*.ipynb): what CI proves of each (bash tools/assignments.sh check).

For every master notebook: otter assign builds it (and refuses to unless its solution passes every
hidden test); assignments/student/ holds exactly the student notebook it builds; that notebook runs
cell by cell with no error except in its public checks, each of which fails on the stubs; it scores 0
on the hidden tests; and grading the solution with the autograder zip gives full marks.
The tests that need otter-grader run in the teacher environment only (.venv-teacher); the rest run
everywhere.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "assignments").glob("*.ipynb"))
NAMES = [m.stem for m in MASTERS]


def test_one_assignment_per_chapter_and_every_student_notebook_offered():
    assert sorted({name[:2] for name in NAMES}) == ["01", "02", "03", "04", "05", "06"], NAMES
    page = (ROOT / "book" / "assignments.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert (ROOT / "assignments" / "student" / f"{name}.ipynb").is_file(), name
        assert f"../assignments/student/{name}.ipynb" in page, f"book/assignments.md lacks {name}"


def test_otter_is_not_in_the_readers_environment():
    assert "otter" not in (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "otter" not in (ROOT / "constraints.txt").read_text(encoding="utf-8")


def test_student_notebooks_need_no_otter_and_hold_no_hidden_test():
    for name in NAMES:
        nb = nbformat.read(ROOT / "assignments" / "student" / f"{name}.ipynb", as_version=4)
        source = "\n".join(cell.source for cell in nb.cells)
        assert "import otter" not in source and "grader." not in source, name
        assert "BEGIN SOLUTION" not in source and "# HIDDEN" not in source, name
        for test in nb.metadata["otter"]["tests"].values():
            assert all(case["cases"] == [] for case in test["suites"]), (name, test["name"])


@pytest.fixture(scope="module", params=NAMES)
def built(request, tmp_path_factory):
    """otter assign's output for one master (it fails unless the solution gets full marks)."""
    pytest.importorskip("otter", reason="otter-grader is in the teacher environment only: "
                                        "bash tools/assignments.sh check")
    name = request.param
    out = tmp_path_factory.mktemp(name) / "dist"
    run = subprocess.run([sys.executable, "-m", "otter", "assign", str(ROOT / "assignments" / f"{name}.ipynb"),
                          str(out)], capture_output=True, text=True)
    assert run.returncode == 0, f"otter assign {name} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return name, out


def grade(zip_path: Path, notebook: Path, out: Path) -> dict:
    out.mkdir(parents=True)
    run = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(zip_path), "-o", str(out),
                          str(notebook)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"] if t.get("max_score")}


def test_committed_student_notebook_is_current(built):
    name, out = built
    fresh = (out / "student" / f"{name}.ipynb").read_text(encoding="utf-8")
    committed = (ROOT / "assignments" / "student" / f"{name}.ipynb").read_text(encoding="utf-8")
    assert fresh == committed, f"assignments/student/{name}.ipynb is stale: bash tools/assignments.sh generate"


def test_solution_gets_full_marks(built, tmp_path):
    name, out = built
    scores = grade(next((out / "autograder").glob("*.zip")), out / "autograder" / f"{name}.ipynb",
                   tmp_path / "graded")
    assert len(scores) >= 2 and all(score == top for score, top in scores.values()), scores


def test_student_notebook_runs_to_its_stubs_and_scores_zero(built, tmp_path):
    from nbclient import NotebookClient

    name, out = built
    student = out / "student" / f"{name}.ipynb"
    nb = nbformat.read(student, as_version=4)
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(student.parent)}}).execute()
    checks, failed = 0, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "public-check" in cell.metadata.get("tags", []):
            checks += 1
            assert errors, f"{name}: the public check in cell {index} passes on the stubs:\n{cell.source}"
        elif errors:
            failed.append((index, errors[0].ename, errors[0].evalue))
    assert checks >= 2 and not failed, f"{name}: errors outside the public checks: {failed}"
    scores = grade(next((out / "autograder").glob("*.zip")), student, tmp_path / "graded")
    assert len(scores) >= 2 and all(score == 0 for score, _ in scores.values()), scores
