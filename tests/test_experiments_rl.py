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
