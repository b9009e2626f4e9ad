"""The Gradescope autograder: a zip that grades with this same package, in the same environment.

`build(name)` writes `NN_name-gradescope.zip` with

- `setup.sh`: installs Python 3.11 and the pinned packages the grader uses here (torch 2.14.1 CPU
  and the versions in `requirements.txt` of the zip, taken from this repository's constraints), then
  copies the grading package where the user nobody can read it (`/opt/grader`);
- `run_autograder`: makes the hidden tests, the master and the results unreadable to others, and
  runs `python -m grading gradescope-run`, which grades `/autograder/submission/*.ipynb` as
  `python -m grading grade` does and writes `/autograder/results/results.json`;
- the grading package, metalib, the master and its hidden tests.

Gradescope's containers usually refuse new namespaces, so there the submission runs as the user
nobody (`--sandbox uid`); where namespaces work, they are used.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from . import judge

ROOT = judge.ROOT
PACKAGES = ("torch", "numpy", "ipython", "matplotlib", "scikit-learn", "tqdm", "ipywidgets", "pyyaml",
            "nbformat")

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder is built.
set -euxo pipefail
source=${AUTOGRADER:-/autograder}/source
grader=${GRADER_HOME:-/opt/grader}
if [[ -z ${GRADING_PYTHON:-} ]]; then
  apt-get update && apt-get install -y --no-install-recommends curl ca-certificates util-linux procps
  curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR=/usr/local/bin sh
  uv python install 3.11
  uv venv --python 3.11 /opt/grading-venv
  uv pip install --python /opt/grading-venv/bin/python --index-strategy unsafe-best-match \\
    --extra-index-url https://download.pytorch.org/whl/cpu -r "$source/requirements.txt"
  uv pip install --python /opt/grading-venv/bin/python --no-deps "$source/metalib-src"
  chmod -R a+rX /opt/grading-venv "$(/opt/grading-venv/bin/python -c 'import sys; print(sys.base_prefix)')"
fi
rm -rf "$grader" && mkdir -p "$grader" && cp -r "$source/grading" "$grader/" && chmod -R a+rX "$grader"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission.
set -euo pipefail
root=${AUTOGRADER:-/autograder}
python=${GRADING_PYTHON:-/opt/grading-venv/bin/python}
chmod -R go-rwx "$root/source" "$root/results" "$root/submission"
cd "${GRADER_HOME:-/opt/grader}"
exec "$python" -m grading gradescope-run NAME --assignments "$root/source/assignments" \\
  --submission "$root/submission" --results "$root/results/results.json" --sandbox "${GRADING_SANDBOX:-auto}"
"""


def requirements() -> str:
    """The grader's packages at the versions of constraints.txt (the book's environment)."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    lines = []
    for name in PACKAGES:
        version = pins.get(name)
        if version is None:
            raise SystemExit(f"{name} has no pin in constraints.txt: the zip must match local grading")
        if name == "torch":
            version = version.split("+")[0] + "+cpu"
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def build(name: str, out: Path) -> Path:
    assignment = judge.load(name)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}-gradescope.zip"

    def executable(archive, arcname, text):
        info = zipfile.ZipInfo(arcname)
        info.external_attr = 0o755 << 16
        archive.writestr(info, text)

    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        executable(archive, "setup.sh", SETUP)
        executable(archive, "run_autograder", RUN.replace("NAME", name))
        archive.writestr("requirements.txt", requirements())
        for path in sorted((ROOT / "grading").glob("*.py")):
            archive.write(path, f"grading/{path.name}")
        for path in sorted((ROOT / "metalib").rglob("*.py")):
            archive.write(path, f"metalib-src/{path.relative_to(ROOT)}")
        archive.write(ROOT / "pyproject.toml", "metalib-src/pyproject.toml")
        archive.write(ROOT / "README.md", "metalib-src/README.md")
        archive.write(assignment.master, f"assignments/{name}.ipynb")
        archive.write(ROOT / "assignments" / "hidden" / f"{name}.py", f"assignments/hidden/{name}.py")
    return target


def run(assignment: judge.Assignment, submission_dir: Path, results: Path, mode: str) -> dict:
    """Grade the one notebook in `submission_dir`; write Gradescope's results.json."""
    notebooks = sorted(p for p in submission_dir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(notebooks) != 1:
        found = ", ".join(p.name for p in notebooks) or "none"
        out = {"score": 0, "output": f"Upload exactly one .ipynb file (found: {found}).", "tests": []}
    else:
        results.parent.mkdir(parents=True, exist_ok=True)
        result = judge.grade(assignment, notebooks[0], mode=mode, log=results.parent / "log.txt")
        out = {"score": result["points"], "output": judge.feedback(result),
               "tests": [{"name": q["name"], "score": q["points"], "max_score": q["max_points"],
                          "status": "passed" if q["points"] == q["max_points"] else "failed",
                          "output": "\n".join(_lines(q))} for q in result["questions"]]}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


def _lines(question: dict):
    if question.get("reason"):
        yield question["reason"]
    for c in question["checks"]:
        yield f"[{'passed' if c['passed'] else 'FAILED'}] {c['what']} ({c['points']:g} / {c['max_points']:g})"
        if c["detail"]:
            yield f"    {c['detail']}"
        if c["hint"]:
            yield f"    hint: {c['hint']}"
