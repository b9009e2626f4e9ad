"""grading.sandbox against the attacks a class will try: each one fails, and the grade stays honest.

Every attack is a submission graded as a teacher grades it. The ones that look for secrets print
FOUND for anything they could read or change, and BLOCKED otherwise; they also use what they find,
so a leak would show in the score too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grading import judge, sandbox
from grading_notebooks import add_cell, blank, grade, points, replace, solution

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sandbox.namespaces_work() is not None and not os.environ.get("CI"),
                                reason="this machine does not allow unprivileged namespaces")


def test_namespaces_work_here():
    assert sandbox.namespaces_work() is None, sandbox.namespaces_work()


SNOOP = textwrap.dedent('''
    import glob, os, socket
    targets = [{hidden!r}, {master!r}, {results!r}, {other!r}, "/home"]
    for path in targets:
        try:
            found = os.listdir(path) if os.path.isdir(path) else open(path).read(200)
            print("FOUND", path, str(found)[:80])
        except OSError as e:
            print("BLOCKED", path, type(e).__name__)
    for top in ("/work", "/root", "/tmp", "/submission", "/etc", "/usr/local", "/srv", "/opt", "/mnt"):
        for folder, _, files in os.walk(top):
            for f in files:
                if "site-packages" in folder:
                    continue
                if f.endswith(".ipynb") or (f.endswith(".py") and "hidden" in folder) or f == "results.json":
                    print("FOUND", folder, f)
    try:
        socket.create_connection(("151.101.0.223", 443), timeout=3)
        print("FOUND network")
    except OSError as e:
        print("BLOCKED network", e)
    try:                                      # use a leaked master's solutions, if any
        exec(open({master!r}).read().split("BEGIN SOLUTION")[0])
    except OSError:
        pass
    for path, text in [({results!r} + "/bob/results.json", '{{"points": 0}}'), ({hidden!r}, "QUESTIONS = []"),
                       ("/usr/lib/x", ""), ({repo!r} + "/pwned", "")]:
        if not os.path.exists(path):
            print("BLOCKED write", path, "(not there)")
            continue
        try:
            open(path, "w").write(text)
            print("FOUND writable", path)
        except OSError as e:
            print("BLOCKED write", path, type(e).__name__)
''')


def test_snooping_and_overwriting_fail(tmp_path):
    results = tmp_path / "grades"
    (results / "bob").mkdir(parents=True)
    (results / "bob" / "results.json").write_text('{"points": 4}')
    other = tmp_path / "submissions" / "bob.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    hidden = ROOT / "assignments" / "hidden" / "04_maml.py"
    before = hidden.read_text()
    code = SNOOP.format(hidden=str(hidden), master=str(ROOT / "assignments" / "04_maml.ipynb"),
                        results=str(results), other=str(other), repo=str(ROOT))
    result = grade("04_maml", add_cell(blank("04_maml"), code), tmp_path / "alice")
    log = result["log"]
    assert "FOUND" not in log and log.count("BLOCKED") >= 10, log
    assert result["points"] == 0, judge.feedback(result)
    assert hidden.read_text() == before and not (ROOT / "pwned").exists()
    assert json.loads((results / "bob" / "results.json").read_text()) == {"points": 4}


PATCHES = {
    "torch.allclose and friends always true": '''
import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda *a, **k: True
''',
    "the runner's messages forged": '''
import json, os
for fd in range(3, 40):
    for q in ("q1_inner_loop", "q2_meta_loss"):
        try:
            os.write(fd, (json.dumps({"event": "question", "name": q, "score": 2, "points": 2, "passed": True,
                                      "outputs": {"__dict__": {}}}) + "\\n").encode())
        except OSError:
            pass
''',
    "the grading package patched from inside": '''
import sys
from grading import codec, runner
runner.attempt = lambda *a, **k: True
codec.encode = lambda value, depth=0: {"__dict__": {"passed": True, "score": 2}}
sys.modules["grading.judge"] = None
''',
    "AssertionError and the exit made harmless": '''
import builtins, os, sys
builtins.AssertionError = type("Never", (Exception,), {})
sys.exit = os._exit = lambda *a: None
''',
}


@pytest.mark.parametrize("patch", PATCHES)
def test_patching_gets_no_points(patch, tmp_path):
    result = grade("04_maml", add_cell(blank("04_maml"), PATCHES[patch]), tmp_path)
    assert result["points"] == 0, judge.feedback(result)


def test_patching_torch_does_not_cost_a_correct_answer(tmp_path):
    result = grade("04_maml", add_cell(solution("04_maml"), PATCHES["torch.allclose and friends always true"]),
                   tmp_path)
    assert result["points"] == 4, judge.feedback(result)


def test_exiting_the_process_is_not_graded_and_gets_nothing(tmp_path):
    result = grade("04_maml", add_cell(blank("04_maml"), "import os\nos._exit(0)", after="inner_loop"), tmp_path)
    assert result["status"] == "not graded" and result["points"] == 0, judge.feedback(result)
    assert "ended" in judge.feedback(result)


def test_grading_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    result = grade("02_pcgrad", solution("02_pcgrad"), tmp_path)
    assert result["points"] == 4, judge.feedback(result)
    assert list(scratch.iterdir()) == []


def test_an_endless_loop_in_a_cell_is_stopped_and_the_rest_is_graded(tmp_path):
    nb = add_cell(solution("04_maml"), "while True:\n    pass", after="inner_loop")
    result = grade("04_maml", nb, tmp_path, time_limit=40, cell_time=4, probe_time=10)
    assert result["status"] == "graded" and result["points"] == 4, judge.feedback(result)
    assert any("ran past" in c["error"] for c in result["cells"]), result["cells"]


def test_an_endless_loop_in_an_answer_times_out_that_question_only(tmp_path):
    nb = replace(solution("04_maml"), "inner_loop", "def inner_loop(params, x, y, lr, steps):\n"
                 "    while True:\n        pass\n")
    nb.cells = [c for c in nb.cells if "public-check" not in c.metadata.get("tags", [])]
    result = grade("04_maml", nb, tmp_path, time_limit=20, probe_time=4)
    assert [q["status"] for q in result["questions"]] == ["timed out", "graded"], judge.feedback(result)
    assert points(result) == {"q1_inner_loop": 0, "q2_meta_loss": 2}


def test_a_loop_that_swallows_the_alarm_is_killed_at_the_time_limit(tmp_path):
    nb = add_cell(blank("04_maml"), "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                  "while True:\n    try:\n        pass\n    except BaseException:\n        pass")
    import time

    start = time.monotonic()
    result = grade("04_maml", nb, tmp_path, time_limit=3, probe_time=2, startup_time=6)
    assert result["status"] == "timed out" and result["points"] == 0, judge.feedback(result)
    assert time.monotonic() - start < 3 + 2 * 2 + 6 + 10


def test_memory_and_processes_are_limited(tmp_path):
    code = textwrap.dedent('''
        try:
            hog = bytearray(20 * 2**30)
            print("FOUND 20 GiB")
        except MemoryError:
            print("BLOCKED memory")
        import os
        children = 0
        try:
            for _ in range(2000):
                if os.fork() == 0:
                    import time; time.sleep(30); os._exit(0)
                children += 1
            print("FOUND", children, "processes")
        except OSError:
            print("BLOCKED processes after", children)
    ''')
    result = grade("04_maml", add_cell(solution("04_maml"), code), tmp_path, time_limit=60)
    print(result["log"])
    assert "FOUND" not in result["log"] and result["log"].count("BLOCKED") == 2, result["log"]
    assert result["points"] == 4, judge.feedback(result)


def test_uid_mode_refuses_when_nobody_could_read_the_hidden_tests():
    if os.geteuid() != 0:
        with pytest.raises(sandbox.SandboxUnavailable, match="needs root"):
            sandbox.check_uid_mode([ROOT / "assignments" / "hidden"])
        return
    import tempfile

    folder = Path(tempfile.mkdtemp())
    try:
        os.chmod(folder, 0o755)
        secret = folder / "hidden.py"
        secret.write_text("QUESTIONS = []")
        os.chmod(secret, 0o644)
        with pytest.raises(sandbox.SandboxUnavailable, match="chmod -R go-rwx"):
            sandbox.check_uid_mode([secret])
        os.chmod(secret, 0o600)
        sandbox.check_uid_mode([secret])
    finally:
        secret.unlink()
        folder.rmdir()


def test_the_command_line_says_how_to_fix_a_machine_without_namespaces(tmp_path):
    # a machine without unshare: PATH without util-linux
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "grading", "grade", "04_maml", str(tmp_path), "--sandbox",
                          "namespaces"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 2 and "unshare" in run.stderr and "install util-linux" in run.stderr, run.stderr
