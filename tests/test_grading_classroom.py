"""grading.classroom and the command line: a class graded from a roster into the CSV files an LMS
imports, with a broken submission in the middle that costs nobody else anything."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grading import classroom
from grading_notebooks import add_cell, blank, replace, solution, write

ROOT = Path(__file__).resolve().parents[1]


def test_roster_matches_colab_names_and_lists_every_problem(tmp_path):
    files = [write(blank("01_learner"), tmp_path / p) for p in
             ("alice/Copy of 01_learner (1).ipynb", "bob/01_learner.ipynb", "carol_01_learner.ipynb")]
    roster = [("Alice A", "alice/*"), ("Bob B", "*bob*"), ("Carol C", "carol_*"), ("Dan D", "dan*")]
    matched, missing = classroom.match(roster, [Path(f) for f in files])
    assert matched == {"Alice A": files[0], "Bob B": files[1], "Carol C": files[2]} and missing == ["Dan D"]
    with pytest.raises(classroom.RosterError) as error:
        classroom.match([("Alice A", "*01_learner*"), ("Bob B", "*bob*")], [Path(f) for f in files])
    text = str(error.value)
    assert "nothing was graded" in text and "matches several students" in text and "several submissions" in text


def test_a_roster_without_its_header_is_refused(tmp_path):
    (tmp_path / "roster.csv").write_text("alice,alice.ipynb\n")
    with pytest.raises(classroom.RosterError, match="student,file"):
        classroom.read_roster(tmp_path / "roster.csv")


def test_a_class_is_graded_into_csv_and_one_bad_submission_costs_nobody_else(tmp_path):
    hand_ins = tmp_path / "hand-ins"
    write(solution("01_learner"), hand_ins / "Copy of 01_learner.ipynb")                       # alice
    write(add_cell(blank("01_learner"), "import os\nos._exit(3)"), hand_ins / "bob_01_learner.ipynb")
    (hand_ins / "carol.ipynb").write_text("this is not a notebook")
    write(replace(solution("01_learner"), "learner", "def learner(w0, b0, x, y, lr, steps):\n"
                  "    return w0, b0\n"), hand_ins / "dan" / "01_learner.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text("student,file\nalice@uni.edu,Copy of*\nbob@uni.edu,bob_*\ncarol@uni.edu,carol*\n"
                      "dan@uni.edu,dan/*\nerin@uni.edu,erin*\n")
    out = tmp_path / "grades"
    run = subprocess.run([sys.executable, "-m", "grading", "grade", "01_learner", str(hand_ins), "--roster",
                          str(roster), "--out", str(out), "--jobs", "2"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    totals = {r["student"]: r for r in csv.DictReader(open(out / "totals.csv"))}
    assert {s: (r["points"], r["status"]) for s, r in totals.items()} == {
        "alice@uni.edu": ("4", "graded"), "bob@uni.edu": ("0", "not graded"),
        "carol@uni.edu": ("0", "not graded"), "dan@uni.edu": ("2.5", "graded"), "erin@uni.edu": ("0", "missing")}
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert [r["question"] for r in rows if r["student"] == "dan@uni.edu"] == ["q1_gradient", "q2_learner"]
    assert {r["points"] for r in rows if r["student"] == "dan@uni.edu"} == {"2", "0.5"}
    assert "is not a readable notebook" in (out / "carol@uni.edu" / "feedback.txt").read_text()
    assert "hint:" in (out / "dan@uni.edu" / "feedback.txt").read_text()
    assert json.loads((out / "alice@uni.edu" / "results.json").read_text())["submission"].endswith("Copy of 01_learner.ipynb")


def test_the_command_line_refuses_a_roster_that_does_not_match_and_grades_nothing(tmp_path):
    write(blank("01_learner"), tmp_path / "x.ipynb")
    (tmp_path / "roster.csv").write_text("student,file\nalice,alice*\n")
    run = subprocess.run([sys.executable, "-m", "grading", "grade", "01_learner", str(tmp_path / "x.ipynb"),
                          "--roster", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "grades")],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and "matches no roster row" in run.stderr
    assert not (tmp_path / "grades").exists()


def test_written_answers_go_to_the_teacher_beside_their_rubric(tmp_path):
    from grading import judge

    nb = blank("04_homework_maml")
    for cell in nb.cells:
        if "written" in cell.metadata.get("tags", []) and cell.metadata["question"] == "d2_first_order":
            cell.source = "First order lost 19 points: it drops the Hessian term."
    write(nb, tmp_path / "hand-ins" / "ana.ipynb")
    assignment = judge.load("04_homework_maml")
    results = classroom.grade_class(assignment, [tmp_path / "hand-ins" / "ana.ipynb"], tmp_path / "grades",
                                    progress=lambda *a: None)
    assert results[0]["points"] == 0
    sheet = (tmp_path / "grades" / "ana" / "written.md").read_text()
    assert "First order lost 19 points" in sheet and "Rubric:" in sheet and sheet.count("## ") == 3
    rows = list(csv.DictReader(open(tmp_path / "grades" / "grades.csv")))
    assert [r["status"] for r in rows if r["question"].startswith("d")] == ["to grade by hand"] * 3
    total = next(csv.DictReader(open(tmp_path / "grades" / "totals.csv")))
    assert total["max_points"] == "8" and total["by_hand_max_points"] == "4"
