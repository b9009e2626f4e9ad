"""The meta-RL experiment script runs end to end at a tiny size and stores what a chapter reads."""
import json
import os
import subprocess
import sys

from metalib.results import REPO


def test_maml_rl_navigation_stores_returns_by_step_for_every_method(tmp_path):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(REPO / "experiments" / "maml_rl_navigation.py"), "--iterations", "2",
                    "--seeds", "2", "--tasks", "2", "--episodes", "3", "--test-episodes", "2", "--steps", "2",
                    "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    stored = json.loads((tmp_path / "smoke.json").read_text())
    methods = stored["results"]["methods"]
    assert set(methods) == {"maml", "pretrained", "random"}
    for name, m in methods.items():
        assert len(m["by_step"]) == 3 and all(s["n"] == 2 and s["mean"] < 0 for s in m["by_step"])
        assert [len(r["training_returns"]) for r in m["runs"]] == ([0, 0] if name == "random" else [2, 2])
        assert [len(r["gradient_norms"]) for r in m["runs"]] == ([0, 0] if name == "random" else [2, 2])
        assert [len(r["training_returns_before"]) for r in m["runs"]] == ([2, 2] if name == "maml" else [0, 0])
        assert [r["chosen_iteration"] for r in m["runs"]] == ([0, 0] if name == "random" else [2, 2])
    assert stored["command"].startswith("METALIB_BUDGET=")


def test_rl2_navigation_stores_returns_by_episode(tmp_path):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(REPO / "experiments" / "rl2_navigation.py"), "--iterations", "2",
                    "--seeds", "2", "--test-trials", "2", "--hidden", "8", "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    stored = json.loads((tmp_path / "smoke.json").read_text())
    res = stored["results"]
    assert len(res["by_episode"]) == 3 and all(e["n"] == 2 and e["mean"] < 0 for e in res["by_episode"])
    for run in res["runs"]:
        assert len(run["training_returns"]) == 2 and run["chosen_iteration"] in (1, 2)
        assert len(run["paths"]) == 4 and len(run["paths"][0]) == 3 and len(run["paths"][0][0]) == 100
    assert stored["command"].startswith("METALIB_BUDGET=default python experiments/rl2_navigation.py")


def test_maml_rl_halfcheetah_runs_and_stores_its_curves(tmp_path):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(REPO / "experiments" / "maml_rl_halfcheetah.py"), "--iterations", "2",
                    "--tasks", "2", "--episodes", "1", "--test-episodes", "1", "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    stored = json.loads((tmp_path / "smoke.json").read_text())
    res = stored["results"]
    assert set(res["methods"]) == {"maml", "pretrained"}
    for name, m in res["methods"].items():
        assert len(m["curves"]["before"]) == len(m["curves"]["after"]) == 2
        assert all(abs(r) < 1e4 for r in m["curves"]["before"] + [m["test_before"], m["test_after"]])
        if name == "pretrained":
            assert m["curves"]["before"] == m["curves"]["after"]      # no inner step in training
