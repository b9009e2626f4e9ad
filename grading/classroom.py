"""A class's submissions: who handed in which file, every grade, and the CSV files an LMS imports.

A roster is a CSV file with the columns `student` and `file`. `file` is a pattern (shell-style: `*`,
`?`) matched against each submission's path and every ending of it (`hand-ins/alice/x.ipynb`,
`alice/x.ipynb`, `x.ipynb`), so `*alice*` or `alice/*` or the exact name Colab gave
(`Copy of 04_maml (1).ipynb`) all work. Every
submission must match exactly one student and no student more than one submission; otherwise nothing
is graded and the error lists each problem. A student on the roster with no submission is listed
with the status "missing".

Results go to a folder of the teacher's choice (by default `grades/NN_name/`), one folder per
student with `results.json`, `feedback.txt` (what the student may read) and `log.txt` (what the
notebook printed, for the teacher), plus

- `grades.csv`: one row per student and question (student, question, points, max_points, status);
  written questions have the status "to grade by hand" and no points yet;
- `totals.csv`: one row per student (student, points, max_points, by_hand_max_points, status,
  submission), for an LMS: `points` is what the grader awarded, out of `max_points`; the written
  questions add up to `by_hand_max_points` more;
- for an assignment with written questions, `written.md` in each student's folder: every answer
  beside its rubric.
"""
from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import judge


class RosterError(ValueError):
    """The roster and the submissions do not match one to one."""


def submissions_in(paths: list[str]) -> list[Path]:
    """The .ipynb files named, or found under the folders named, in order, without checkpoints."""
    out = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.exists():
            out.append(path)
        else:
            raise RosterError(f"{name}: no such file or folder")
    return out


def read_roster(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"student", "file"} <= set(rows[0]):
        raise RosterError(f"{path}: a roster is a CSV file with a header line 'student,file' and one "
                          "row per student (file: the submission's name or a pattern such as *alice*)")
    students = [r["student"].strip() for r in rows]
    repeated = sorted({s for s in students if students.count(s) > 1})
    if repeated or not all(students):
        raise RosterError(f"{path}: every row needs a student name, once ({repeated or 'an empty name'})")
    return [(r["student"].strip(), r["file"].strip()) for r in rows]


def match(roster: list[tuple[str, str]] | None, submissions: list[Path]) -> tuple[dict[str, Path], list[str]]:
    """({student: submission}, students without one); RosterError listing every mismatch."""
    if roster is None:
        common = Path(os.path.commonpath([p.resolve().parent for p in submissions])) if submissions else None
        return {_key(p.resolve().relative_to(common)): p for p in submissions}, []
    owner: dict[Path, list[str]] = {p: [] for p in submissions}
    for student, pattern in roster:
        for p in submissions:
            if any(fnmatch.fnmatch(tail, pattern) for tail in _tails(p)):
                owner[p].append(student)
    problems = []
    for p, students in owner.items():
        if not students:
            problems.append(f"{p}: matches no roster row (add one, or correct a pattern)")
        elif len(students) > 1:
            problems.append(f"{p}: matches several students ({', '.join(students)}): make their patterns "
                            "narrower")
    by_student: dict[str, list[Path]] = {}
    for p, students in owner.items():
        if len(students) == 1:
            by_student.setdefault(students[0], []).append(p)
    for student, files in by_student.items():
        if len(files) > 1:
            problems.append(f"{student}: several submissions ({', '.join(map(str, files))}): keep the one "
                            "to grade")
    if problems:
        raise RosterError("the roster does not match the submissions; nothing was graded:\n  "
                          + "\n  ".join(problems))
    matched = {s: files[0] for s, files in by_student.items()}
    return matched, [s for s, _ in roster if s not in matched]


def _tails(path: Path) -> list[str]:
    """The path and each shorter ending of it: a/b/c.ipynb, b/c.ipynb, c.ipynb."""
    parts = path.parts
    return ["/".join(parts[i:]) for i in range(len(parts))]


def _key(path: Path) -> str:
    """A name for a submission graded without a roster: its path below the folder that holds all
    submissions, / written __ (alice/04_maml.ipynb -> alice__04_maml)."""
    text = str(path.with_suffix("")).lstrip("./")
    return re.sub(r"[^\w.-]+", "_", text.replace("/", "__"))


def _folder(student: str) -> str:
    return re.sub(r"[^\w.@-]+", "_", student) or "_"


def grade_class(assignment: judge.Assignment, submissions: list[Path], out: Path,
                roster: list[tuple[str, str]] | None = None, mode: str = "namespaces",
                data: Path | None = None, jobs: int = 1, progress=print) -> list[dict]:
    """Grade every submission; write the per-student folders and the two CSV files in `out`."""
    matched, missing = match(roster, submissions)
    out.mkdir(parents=True, exist_ok=True)

    def one(item):
        student, path = item
        folder = out / _folder(student)
        folder.mkdir(exist_ok=True)
        result = judge.grade(assignment, path, mode=mode, data=data, log=folder / "log.txt")
        result.update(student=student, submission=str(path))
        (folder / "results.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        (folder / "feedback.txt").write_text(judge.feedback(result), encoding="utf-8")
        if assignment.manual:
            (folder / "written.md").write_text(written_sheet(assignment, student, path), encoding="utf-8")
        progress(f"{student}\t{result['points']:g} / {result['max_points']:g}\t{result['status']}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, sorted(matched.items())))
    for student in missing:
        results.append({"student": student, "submission": "", "status": "missing", "points": 0.0,
                        "max_points": assignment.points,
                        "questions": [{"name": q.name, "points": 0.0, "max_points": q.points,
                                       "status": "missing"} for q in assignment.questions]})
        progress(f"{student}\t0 / {assignment.points:g}\tmissing")
    results.sort(key=lambda r: r["student"])
    write_csv(results, out, assignment.manual)
    return results


def written_sheet(assignment: judge.Assignment, student: str, path: Path) -> str:
    """The written answers of one submission beside each question's rubric, for grading by hand."""
    from . import notebooks

    answers = notebooks.written_answers(path)
    lines = [f"# {assignment.name}: written answers of {student}", ""]
    for question in assignment.manual:
        lines += [f"## {question['name']} ({question['points']:g} points)", "",
                  f"Rubric: {question['rubric']}", "", "Answer:", "",
                  answers.get(question["name"], "(no answer cell found)").strip(), ""]
    return "\n".join(lines)


def write_csv(results: list[dict], out: Path, manual: list[dict] = ()) -> None:
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "question", "points", "max_points", "status"])
        for r in results:
            for q in r["questions"]:
                w.writerow([r["student"], q["name"], f"{q['points']:g}", f"{q['max_points']:g}", q["status"]])
            for q in manual:
                w.writerow([r["student"], q["name"], "", f"{q['points']:g}",
                            "missing" if r["status"] == "missing" else "to grade by hand"])
    with open(out / "totals.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "points", "max_points", "by_hand_max_points", "status", "submission"])
        by_hand = sum(q["points"] for q in manual)
        for r in results:
            w.writerow([r["student"], f"{r['points']:g}", f"{r['max_points']:g}", f"{by_hand:g}", r["status"],
                        r["submission"]])
