"""Data-parallel meta-training speed: tasks per second of MAML on 1 process against R, under torchrun.

What it runs
    Second-order MAML on Finn et al.'s Omniglot network (``Conv4Classifier``, 64 filters) with tasks
    of random 28x28 images, in two settings: ``5w1s`` (5-way 1-shot, 1 query per class, meta-batch 32,
    1 inner step of 0.4) and ``20w1s`` (20-way 1-shot, meta-batch 16, 5 inner steps of 0.1, as in
    ``experiments/optimization_omniglot.py``). A step is what that script does under ``torchrun``
    (:mod:`metalib.distributed`): draw the meta-batch, keep this process's part, the meta-loss, its
    backward pass, the all-reduce of the gradients, an Adam step. ``--warmup`` untimed steps, then
    ``--repeats`` timed blocks of ``--steps`` steps; the figure is the median block, in tasks per
    second of the whole meta-batch (all processes together).

    For each number of processes in ``--processes`` the script starts itself under
    ``python -m torch.distributed.run --standalone --nproc_per_node R`` (one process: plain python)
    and reads back what rank 0 measured. On the CPU every process gets ``--cores / R`` threads (2
    cores: one process of 2 threads against two of 1); on CUDA each process its own GPU.

What the figures mean
    ``tasks_per_s``  meta-batch x steps / seconds, whole run;
    ``speedup``      over the first number of processes (one, by default);
    ``efficiency``   speedup / (processes / that number).

How to run it (from the repository root, on a quiet machine)
    python benchmarks/distributed_speed.py --device cpu                 # results/benchmarks/distributed_speed_cpu.json
    python benchmarks/distributed_speed.py --device cuda --processes 1 8
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch

from metalib import distributed
from metalib.backbones import Conv4Classifier
from metalib.data import FewShotDataset
from metalib.optimization import MAML
from metalib.results import save_results
from timing import timed   # benchmarks/timing.py, beside this script

SETTINGS = {"5w1s": {"way": 5, "meta_batch": 32, "inner_steps": 1, "inner_lr": 0.4},
            "20w1s": {"way": 20, "meta_batch": 16, "inner_steps": 5, "inner_lr": 0.1}}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--steps", type=int, default=5, help="steps per timed block (default: 5)")
    p.add_argument("--repeats", type=int, default=3, help="timed blocks (default: 3)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--cores", type=int, default=os.cpu_count(), help="CPU cores to share among the processes")
    p.add_argument("--report", help=argparse.SUPPRESS)     # a process started by this script writes here
    p.add_argument("--no-save", action="store_true")
    return p.parse_args()


def measure(args) -> dict:
    """In each process (rank 0 reports): tasks per second of the whole meta-batch, per setting."""
    ranks, device = distributed.setup(args.device)
    images = torch.randint(0, 256, (100, 20, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = FewShotDataset.from_tensor("noise", images)
    out = {}
    for name in args.settings:
        s = SETTINGS[name]
        torch.manual_seed(0)
        learner = MAML(Conv4Classifier(s["way"]), s["inner_lr"], s["inner_steps"]).to(device)
        optimizer = torch.optim.Adam(learner.parameters(), lr=1e-3)
        sampler = metalib.EpisodeSampler(data, s["way"], 1, 1, device=device, seed=0)

        def step():
            loss = learner.loss(ranks.shard(sampler.sample(s["meta_batch"])))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            ranks.average_gradients(learner.parameters())
            optimizer.step()

        timed(step, args.warmup, device)
        blocks = [timed(step, args.steps, device) for _ in range(args.repeats)]
        out[name] = {"tasks_per_s": s["meta_batch"] * args.steps / statistics.median(blocks),
                     "seconds_per_step": statistics.median(blocks) / args.steps}
    if ranks.main and args.report:
        Path(args.report).write_text(json.dumps({"threads": torch.get_num_threads(), "device": str(device),
                                                 "settings": out}))
    distributed.teardown()
    return out


def launch(processes: int, args) -> dict:
    """Run this script in ``processes`` processes and return what rank 0 measured."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
        if args.device == "cpu":
            env["OMP_NUM_THREADS"] = str(max(1, args.cores // processes))
        launcher = [sys.executable] if processes == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        options = ["--device", args.device, "--settings", *args.settings, "--steps", str(args.steps),
                   "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--report", str(report)]
        subprocess.run([*launcher, __file__, *options], check=True, env=env)
        return json.loads(report.read_text())


def main() -> None:
    args = parse_args()
    if args.report:
        measure(args)
        return
    runs = {r: launch(r, args) for r in args.processes}
    rows = []
    for name in args.settings:
        first = args.processes[0]
        base = runs[first]["settings"][name]["tasks_per_s"]
        for r, run in runs.items():
            tps = run["settings"][name]["tasks_per_s"]
            rows.append({"setting": name, **SETTINGS[name], "processes": r, "threads_per_process": run["threads"],
                         "tasks_per_s": round(tps, 2), "speedup": round(tps / base, 3),
                         "efficiency": round(tps / base * first / r, 3)})
            print(f"{name:6} {r} process(es) x {run['threads']} thread(s): {tps:7.1f} tasks/s, "
                  f"speed-up {tps / base:.2f}")
    if not args.no_save:
        path = save_results(f"benchmarks/distributed_speed_{torch.device(args.device).type}",
                            {"rows": rows, "steps": args.steps, "repeats": args.repeats, "warmup": args.warmup,
                             "cores": args.cores}, device=args.device)
        print(f"stored {path}")


if __name__ == "__main__":
    main()
