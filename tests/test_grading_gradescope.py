"""grading.gradescope: the autograder zip grades as `python -m grading grade` does.

The zip is unpacked into Gradescope's layout (/autograder/source, submission, results) under a
temporary folder, and its own setup.sh and run_autograder run there with this machine's Python
(GRADING_PYTHON skips the installation, which needs Gradescope's network). Gradescope's own image,
and setup.sh's installation step, are not tested here.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from grading import gradescope, judge
from grading_notebooks import blank, replace, solution, write

ROOT = Path(__file__).resolve().parents[1]
WRONG_PCGRAD = '''def pcgrad(grads):
    return grads.sum(0)
'''


def test_requirements_pin_what_local_grading_uses():
    pins = dict(line.split("==") for line in gradescope.requirements().split())
    import IPython
    import torch

    assert pins["torch"] == torch.__version__.split("+")[0] + "+cpu"
    assert pins["ipython"] == IPython.__version__
    assert sys.version_info[:2] == (3, 11) and "uv python install 3.11" in gradescope.SETUP


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    return gradescope.build("02_pcgrad", tmp_path_factory.mktemp("dist"))


def run_like_gradescope(zip_path: Path, notebook, sandbox: str, wrapper: list[str] = ()) -> dict:
    base = Path(tempfile.mkdtemp(prefix="gradescope-"))
    try:
        os.chmod(base, 0o755)
        root, grader = base / "autograder", base / "opt" / "grader"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root / "source")
        for script in ("setup.sh", "run_autograder"):
            os.chmod(root / "source" / script, 0o755)
        write(notebook, root / "submission" / "Copy of 02_pcgrad.ipynb")
        (root / "results").mkdir()
        env = dict(os.environ, AUTOGRADER=str(root), GRADER_HOME=str(grader), GRADING_PYTHON=sys.executable,
                   GRADING_SANDBOX=sandbox)
        setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True)
        assert setup.returncode == 0, setup.stderr[-2000:]
        run = subprocess.run([*wrapper, "bash", str(root / "source" / "run_autograder")], env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        return json.loads((root / "results" / "results.json").read_text())
    finally:
        shutil.rmtree(base)


def local(notebook, tmp_path) -> dict:
    return judge.grade(judge.load("02_pcgrad"), write(notebook, tmp_path / "02_pcgrad.ipynb"))


@pytest.mark.parametrize("kind", ["solution", "blank", "wrong"])
def test_the_zip_grades_as_local_grading_does(autograder_zip, kind, tmp_path):
    notebook = {"solution": solution, "blank": blank}.get(kind, lambda n: replace(solution(n), "pcgrad",
                                                                                    WRONG_PCGRAD))("02_pcgrad")
    remote = run_like_gradescope(autograder_zip, notebook, "auto")
    here = local(notebook, tmp_path)
    assert remote["score"] == here["points"], remote["output"]
    assert [(t["name"], t["score"], t["max_score"]) for t in remote["tests"]] == \
        [(q["name"], q["points"], q["max_points"]) for q in here["questions"]]
    assert {"solution": 4, "blank": 0, "wrong": 2.5}[kind] == remote["score"], remote["output"]


def readable_by_everyone(paths: list[Path], stage: Path) -> list[str]:
    """A command prefix that runs its command in a private mount namespace in which every folder above
    `paths` that other users cannot enter (/root, a mktemp folder holding the clone) is replaced by an
    open folder holding only those paths, as on Gradescope's image, where Python is readable by all.
    The closed folders are reached through mount points made under `stage`."""
    closed: dict[Path, list[Path]] = {}
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
                closed.setdefault(parent, []).append(path)
                break
    script = []
    for n, (folder, inside) in enumerate(closed.items()):
        point = stage / f"closed-{n}"
        point.mkdir()
        script += [f"mount --bind '{folder}' '{point}'", f"mount -t tmpfs -o mode=755 tmpfs '{folder}'"]
        for path in inside:
            script += [f"mkdir -p '{path}'", f"mount --bind '{point}/{path.relative_to(folder)}' '{path}'"]
        script += [f"umount -l '{point}'"]
    if not script:
        return []
    return ["unshare", "--mount", "sh", "-c", " && ".join(script) + ' && exec "$@"', "wrapper"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid sandbox runs submissions as nobody: root only")
def test_the_zip_in_uid_mode_as_on_gradescope(autograder_zip, tmp_path):
    wrapper = readable_by_everyone([Path(sys.base_prefix), Path(sys.prefix), ROOT / "metalib"], tmp_path)
    snoop = solution("02_pcgrad")
    snoop.cells.append(__import__("nbformat").v4.new_code_cell(
        "import glob\nblocked = 0\n"
        "for base in glob.glob('/tmp/gradescope-*/autograder'):\n"
        "    for rel in ('source/assignments/hidden/02_pcgrad.py', 'source/assignments/02_pcgrad.ipynb',\n"
        "                'submission/Copy of 02_pcgrad.ipynb'):\n"
        "        try:\n            open(f'{base}/{rel}').read()\n            print('FOUND', rel)\n"
        "        except PermissionError:\n            blocked += 1\n"
        "    try:\n        open(f'{base}/results/results.json', 'w')\n        print('FOUND results')\n"
        "    except PermissionError:\n        blocked += 1\n"
        "raise RuntimeError(f'BLOCKED {blocked}')"))
    remote = run_like_gradescope(autograder_zip, snoop, "uid", wrapper)
    assert remote["score"] == 4 and "BLOCKED 4" in remote["output"], remote["output"]
    blank_result = run_like_gradescope(autograder_zip, blank("02_pcgrad"), "uid", wrapper)
    assert blank_result["score"] == 0, blank_result["output"]
