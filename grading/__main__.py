"""python -m grading: make student notebooks, grade a class, build the Gradescope autograder."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import classroom, judge, notebooks, sandbox

ROOT = judge.ROOT


def _base_url() -> str:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return ((config.get("html") or {}).get("baseurl") or "").strip()


def generate(names: list[str]) -> None:
    import nbformat

    masters = [ROOT / "assignments" / f"{n}.ipynb" for n in names] if names else \
        sorted((ROOT / "assignments").glob("*.ipynb"))
    for master in masters:
        target = ROOT / "assignments" / "student" / master.name
        nbformat.write(notebooks.student_notebook(master, _base_url()), target)
        print(f"{target.relative_to(ROOT)}")


def pick_sandbox(mode: str, assignment: judge.Assignment, out: Path | None) -> str:
    """The sandbox to use: `mode`, or with auto, namespaces where they work, else uid (root only)."""
    secrets = [assignment.master, assignment.master.parent / "hidden"] + ([out] if out else [])
    if mode in ("namespaces", "auto"):
        why_not = sandbox.namespaces_work()
        if why_not is None:
            return "namespaces"
        if mode == "namespaces":
            raise sandbox.SandboxUnavailable(why_not)
    sandbox.check_uid_mode(secrets)
    return "uid"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("generate", help="write assignments/student/ from the masters")
    g.add_argument("names", nargs="*", help="assignments (default: all)")
    s = commands.add_parser("solution", help="write a master's solution notebook (what full marks look like)")
    s.add_argument("name")
    s.add_argument("target", type=Path)
    r = commands.add_parser("grade", help="grade submissions of one assignment")
    r.add_argument("name", help="the assignment, e.g. 04_maml")
    r.add_argument("submissions", nargs="+", help=".ipynb files or folders holding them")
    r.add_argument("--roster", type=Path, help="CSV with columns student,file (see grading/classroom.py)")
    r.add_argument("--out", type=Path, help="results folder (default grades/NAME)")
    r.add_argument("--sandbox", choices=["auto", "namespaces", "uid"], default="auto")
    r.add_argument("--jobs", type=int, default=1, help="submissions graded at once (each uses one core)")
    r.add_argument("--data", type=Path, help="a data folder the notebooks may read (read-only)")
    r.add_argument("--assignments", type=Path, default=judge.ASSIGNMENTS, help=argparse.SUPPRESS)
    z = commands.add_parser("gradescope", help="build the Gradescope autograder zip of an assignment")
    z.add_argument("name")
    z.add_argument("--out", type=Path, default=ROOT / "assignments" / "dist")
    gr = commands.add_parser("gradescope-run", help=argparse.SUPPRESS)   # what the zip's run_autograder calls
    gr.add_argument("name")
    gr.add_argument("--assignments", type=Path, required=True)
    gr.add_argument("--submission", type=Path, required=True)
    gr.add_argument("--results", type=Path, required=True)
    gr.add_argument("--sandbox", choices=["auto", "namespaces", "uid"], default="auto")
    args = parser.parse_args(argv)

    if args.command == "generate":
        generate(args.names)
    elif args.command == "solution":
        import nbformat

        nbformat.write(notebooks.solution_notebook(judge.load(args.name).master), args.target)
    elif args.command == "grade":
        assignment = judge.load(args.name, args.assignments)
        out = args.out or Path("grades") / args.name
        try:
            roster = classroom.read_roster(args.roster) if args.roster else None
            submissions = classroom.submissions_in(args.submissions)
            classroom.match(roster, submissions)
            mode = pick_sandbox(args.sandbox, assignment, out)
        except (classroom.RosterError, sandbox.SandboxUnavailable) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        results = classroom.grade_class(assignment, submissions, out, roster, mode, args.data, args.jobs)
        print(f"{len(results)} students; results in {out}/ (totals.csv for an LMS, grades.csv per question, "
              "each student's feedback.txt)")
    elif args.command == "gradescope":
        from . import gradescope

        print(gradescope.build(args.name, args.out))
    elif args.command == "gradescope-run":
        from . import gradescope

        assignment = judge.load(args.name, args.assignments)
        gradescope.run(assignment, args.submission, args.results,
                       pick_sandbox(args.sandbox, assignment, args.results.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
