"""Chapter 6's experiment script runs end to end at a tiny size and stores what the chapter reads."""
import json
import os
import subprocess
import sys

from metalib.results import REPO


def test_domain_digits_stores_every_run_the_validators_and_their_choices(tmp_path):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "METALIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(REPO / "experiments" / "domain_digits.py"), "--device", "cpu", "--seeds", "1",
                    "--steps", "5", "--methods", "MMD", "entropy", "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    stored = json.loads((tmp_path / "smoke.json").read_text())
    results = stored["results"]
    assert stored["command"].startswith("METALIB_BUDGET=") and results["steps"] == 5
    # source only, augmentation only, oracle, then every weight of both methods
    assert len(results["runs"]) == 3 + len(results["weights"]["MMD"]) + len(results["weights"]["entropy"])
    validators = {"source", "IWV", "DEV", "IM", "reverse"}
    for r in results["runs"]:
        assert validators | {"target", "method", "weight", "seed", "seconds"} <= set(r)
        assert 0 <= r["target"] <= 1 and 0 <= r["source"] <= 1
    summary = results["summary"]
    assert set(summary["methods"]) == {"MMD", "entropy"} and set(summary["spearman"]) == validators
    for m in summary["methods"].values():
        assert set(m["chosen"]) == validators | {"target"}
        # the weight the test labels pick is, by construction, at least as good as any validator's pick
        assert all(m["chosen"]["target"]["target"] >= c["target"] for c in m["chosen"].values())


def test_domain_fewshot_stores_every_learner_and_shot(tmp_path):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "METALIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    learners = ["untrained", "protonet", "protonet + MMD", "finetune", "maml + MMD", "oracle"]
    subprocess.run([sys.executable, str(REPO / "experiments" / "domain_fewshot.py"), "--seeds", "1", "--steps", "3",
                    "--maml-steps", "2", "--test-tasks", "4", "--learners", *learners, "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    results = json.loads((tmp_path / "smoke.json").read_text())["results"]
    assert [r["learner"] for r in results["runs"]] == learners
    shots = [f"{k}-shot" for k in results["protocol"]["shots"]]
    for r in results["runs"]:
        assert all(0 <= r[k] <= 1 and r[f"{k}_ci95"] >= 0 for k in shots)
    assert set(results["summary"]["gap_closed"]) == {"protonet"}    # only it has both a "+ MMD" and a plain run
    # the test alphabets are Omniglot's, disjoint from those whose unlabelled images the "+ MMD" learners see
    protocol = results["protocol"]
    assert not set(protocol["target_test"]["alphabets"]) & set(protocol["target_unlabelled"]["alphabets"])


def test_the_share_of_the_gap_closed_is_the_gain_over_the_oracles_gap():
    sys.path.insert(0, str(REPO / "experiments"))
    from domain_fewshot import summarise

    runs = [{"learner": name, "seed": 0, "1-shot": acc, "glyph_1-shot": 0.5}
            for name, acc in (("protonet", 0.80), ("protonet + MMD", 0.85), ("oracle", 0.90))]
    assert abs(summarise(runs)["gap_closed"]["protonet"]["1-shot"] - 0.5) < 1e-12
