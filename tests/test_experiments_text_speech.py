"""The few-shot text and speech scripts run end to end at a tiny size and store what chapter 7 reads."""
import json
import os
import subprocess
import sys

from metalib.results import REPO


def run(script, tmp_path, *args):
    env = {**os.environ, "METALIB_RESULTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(REPO / "experiments" / script), *args, "--out", "smoke"],
                   check=True, env=env, capture_output=True, timeout=600)
    return json.loads((tmp_path / "smoke.json").read_text())


def test_few_shot_text_stores_every_method_for_both_shots(tmp_path):
    stored = run("few_shot_text.py", tmp_path, "--splits", "1", "--steps", "3")
    res = stored["results"]
    assert len(res["topics"]) == 18 and len(res["confusions"]) == 18
    assert sum(map(sum, res["confusions"])) == 2000 * 5 * 10
    shots = res["splits"][0]["shots"]
    assert set(shots) == {"1", "5"}
    for r in shots.values():
        assert all(0 <= r[k]["mean"] <= 1 and r[k]["n"] == 600 for k in ("wordllama", "char_ngrams", "finetuned"))
        for k in ("wordllama_head", "ngram_protonet"):
            assert r[k]["curve"]["step"] == [0, 3] and r[k]["best_step"] in (0, 3)
        # the head starts at the identity: at step 0 it is the frozen encoder
        assert abs(r["wordllama_head"]["curve"]["test"][0] - r["wordllama"]["mean"]) < 1e-6
    assert stored["command"].startswith("METALIB_BUDGET=default python experiments/few_shot_text.py")


def test_few_shot_speech_holds_out_words_and_voices(tmp_path):
    res = run("few_shot_speech.py", tmp_path, "--splits", "1", "--steps", "2")["results"]
    split = res["splits"][0]
    assert len(split["test_words"]) == 10 and len(split["test_voices"]) == 8
    assert len(split["loss"]) == 2
    for r in split["shots"].values():
        assert set(r) == {"mel_stats", "mel_flat", "random_conv4", "protonet"}
        assert all(0 <= v["mean"] <= 1 and v["n"] == 600 for v in r.values())
