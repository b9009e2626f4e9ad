"""tools/gpu_runs.sh --dry-run: every step of the GPU runbook, at tiny sizes on the CPU."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OMNIGLOT = ROOT.parent / "shared" / "data" / "omniglot"


@pytest.mark.skipif(not OMNIGLOT.is_dir() and not os.environ.get("CI"),
                    reason="needs ../shared/data/omniglot (the Omniglot steps)")
def test_the_gpu_runbook_runs_every_step_on_the_cpu():
    stored = {p: p.stat().st_mtime_ns for p in (ROOT / "results").rglob("*.json")}
    done = subprocess.run(["bash", "tools/gpu_runs.sh", "--dry-run"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    for name in ("CUDA tests", "MAML speed", "ProtoNet speed", "metric Omniglot", "optimisation Omniglot",
                 "multi-task speed", "data-parallel speed"):
        assert f"=== gpu_runs: {name} done" in log, f"{name} did not finish:\n{log[-3000:]}"
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "results").rglob("*.json")}
    assert after == stored, "a dry run must write to a scratch folder, not results/"


def test_the_gpu_runbook_refuses_unknown_arguments():
    done = subprocess.run(["bash", "tools/gpu_runs.sh", "--dryrun"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown argument --dryrun" in done.stderr
