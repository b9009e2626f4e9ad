"""Results of full runs, stored as JSON with what produced them: the command, device and versions.

A number the book prints from a long run (a GPU run at ``METALIB_BUDGET=full``, a benchmark) is read
from a file in ``results/`` that :func:`save_results` wrote when the run ended, never typed in by
hand. Each file holds ``{"command", "environment", "results"}``; ``environment`` records the device,
Python, PyTorch and metalib versions, the ``METALIB_*`` variables, the git commit when the run began
(the process imported this module) and the date.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def results_dir() -> Path:
    """The repository's ``results/`` folder (``METALIB_RESULTS`` overrides it)."""
    return Path(os.environ.get("METALIB_RESULTS") or REPO / "results").expanduser()


def device_name(device: torch.device | str) -> str:
    """A readable name: the GPU's model, or the CPU with its thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{platform.processor() or platform.machine()} CPU, {threads} thread{'s' if threads != 1 else ''}"


def git_state() -> tuple[str | None, bool | None]:
    """The repository's commit and whether tracked files differ from it (``None`` without git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


GIT_AT_START = git_state()
"""The commit when this module was imported, which for an experiment script is when the run began:
a run of an hour records the code it ran, not a commit made while it ran."""


def environment(device: torch.device | str) -> dict:
    """Device, versions, git commit (at the start of the run: :data:`GIT_AT_START`) and date."""
    from . import __version__
    from .distributed import current
    commit, dirty = GIT_AT_START
    ranks = current()
    processes = {"processes": ranks.world_size, "backend": torch.distributed.get_backend()} \
        if ranks.world_size > 1 else {}
    return {
        "device": str(torch.device(device)), "device_name": device_name(device),
        "python": platform.python_version(), "torch": torch.__version__, "metalib": __version__,
        "cuda": torch.version.cuda if torch.device(device).type == "cuda" else None,
        "git_commit": commit, "git_dirty": dirty,
        "metalib_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("METALIB_")},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **processes,
    }


def save_results(name: str, results: dict, device: torch.device | str, command: str | None = None) -> Path:
    """Write ``results/<name>.json`` (atomically) with the command, environment and ``results``.

    Args:
        name: file name without ``.json`` (may contain ``/`` for a subfolder).
        results: JSON-serialisable figures.
        device: the device the run used.
        command: how to reproduce the run (default: this process's command line).

    In a run of several processes (:mod:`metalib.distributed`) only rank 0 writes; the others return
    the same path.
    """
    from .distributed import current
    path = results_dir() / f"{name}.json"
    if not current().main:
        return path
    payload = {"command": command or " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
               "environment": environment(device), "results": results}
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    temp.write_text(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")
    os.replace(temp, path)
    return path


def _finite(value):
    """NaN and infinities become ``null``: strict JSON has no such numbers (a CI of one episode is NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def load_results(name: str) -> dict | None:
    """The stored run ``results/<name>.json``, or None when no such run has been stored yet."""
    path = results_dir() / f"{name}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); re-run the command that writes it") from error


# The command that stores each run a chapter reads and the page may lack (see the README).
RUN_COMMANDS = {
    "metric_omniglot": "METALIB_BUDGET=full python experiments/metric_omniglot.py",
    "metric_omniglot_gpu": "bash tools/gpu_runs.sh",
    "optimization_omniglot": "METALIB_BUDGET=full python experiments/optimization_omniglot.py",
    "optimization_omniglot_gpu": "bash tools/gpu_runs.sh",
    "optimization_sinusoid": "METALIB_BUDGET=full python experiments/optimization_sinusoid.py",
    "benchmarks/maml_speed_cuda": "bash tools/gpu_runs.sh",
    "benchmarks/maml_speed_cpu": "python benchmarks/maml_speed.py --device cpu",
    "maml_rl_navigation_full": "METALIB_BUDGET=full python experiments/maml_rl_navigation.py --out maml_rl_navigation_full",
    "benchmarks/maml_libraries_cpu": "python benchmarks/maml_libraries.py --threads 1 --compile",
    "rl2_navigation_full": "METALIB_BUDGET=full python experiments/rl2_navigation.py --out rl2_navigation_full",
    "maml_rl_halfcheetah_cpu": ("python experiments/maml_rl_halfcheetah.py --iterations 300 --tasks 10 --episodes 10 "
                                "--test-episodes 10 --out maml_rl_halfcheetah_cpu"),
    "few_shot_text_full": "METALIB_BUDGET=full python experiments/few_shot_text.py --out few_shot_text_full",
    "few_shot_speech_full": "METALIB_BUDGET=full python experiments/few_shot_speech.py --out few_shot_speech_full",
    "benchmarks/distributed_speed_cpu": "python benchmarks/distributed_speed.py --device cpu",
    "benchmarks/distributed_speed_cuda": "bash tools/gpu_runs.sh",
}


def show_missing(name: str) -> None:
    """Say, as a note on the page, that the run ``name`` is not stored and which command stores it."""
    from html import escape

    from IPython.display import display

    command = RUN_COMMANDS.get(name, f"the script that writes results/{name}.json")
    text = f"Not run for this page: {name}. It needs a longer run, stored by: {command}"
    html = ('<div class="admonition note"><p class="admonition-title">Not run for this page</p>'
            f"<p>The run <code>{escape(name)}</code> is not stored with the book: it needs a longer "
            f"run (a GPU for some), stored by <code>{escape(command)}</code>. The chapter reads it "
            "once it is there.</p></div>")
    display({"text/plain": text, "text/html": html}, raw=True)
