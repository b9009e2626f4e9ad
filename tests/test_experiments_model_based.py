"""Chapter 5's experiment scripts run end to end at tiny sizes and store what the chapter reads."""
import json
import os
import subprocess
import sys

import pytest

from metalib.results import REPO


def run(script, *args, tmp_path):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "METALIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(REPO / "experiments" / script), "--device", "cpu", *args, "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    return json.loads((tmp_path / "smoke.json").read_text())


def test_model_based_glyphs_stores_every_learner_and_the_online_protocol(tmp_path):
    stored = run("model_based_glyphs.py", "--steps", "2", "--episodes", "50", tmp_path=tmp_path)
    methods = stored["results"]["methods"]
    assert set(methods) == {"transformer", "snail", "mann", "lstm", "metanet", "protonet", "tadam", "leo"}
    for m in methods.values():  # what the chapter's table reads
        assert {"train_s", "graph_bytes_per_step", "parameters", "2w1s", "3w1s"} <= set(m)
        assert 0 <= m["3w1s"]["mean"] <= 1 and m["3w1s"]["n"] == 50 and m["graph_bytes_per_step"] > 0
    for result in stored["results"]["online"].values():
        assert len(result["accuracy_by_instance"]) == 10
    assert stored["command"].startswith("METALIB_BUDGET=")


def test_neural_processes_stores_the_model_the_prior_and_the_oracle(tmp_path):
    stored = run("neural_processes.py", "--iterations", "2", "--hidden", "8", tmp_path=tmp_path)
    for run_ in stored["results"]["runs"].values():
        for by in run_["log_likelihood_by_context"].values():
            assert by["prior"] < by["oracle"]  # with context the GP posterior beats the prior


@pytest.mark.parametrize("script, args, message", [
    ("model_based_glyphs.py", ["--methods", "leo"], "add protonet"),
])
def test_bad_arguments_name_the_fix(script, args, message, tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "experiments" / script), *args], capture_output=True,
                         text=True, env={**os.environ, "METALIB_RESULTS": str(tmp_path)})
    assert out.returncode == 2 and message in out.stderr
