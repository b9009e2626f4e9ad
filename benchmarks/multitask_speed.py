"""How much one training step of PCGrad, MGDA and FAMO costs against equal weighting, and against T backward passes.

What it runs
    Chapter 2's hard-sharing network on 28x28 glyphs (``MLP 784-256-128`` trunk with ReLU, one
    linear head per task; :mod:`metalib.multitask.glyph_tasks`), a batch of 64 images, Adam, for
    ``T = 2, 4, 8`` tasks (the first ``T`` of character, alphabet, pen, rotation, face, scale, aspect,
    shear), each step on the next batch of a shuffled pass over the 1,600 glyphs (not one batch
    hundreds of times over, which drives its losses towards zero as no training run does).
    Eight kinds of step, each forward + losses + backward + ``optimizer.step()``:

    - ``equal``: ``losses.sum().backward()``;
    - ``pcgrad``, ``mgda``: :class:`metalib.multitask.training.MultiTaskStep` with ``trunk=``: the Gram
      matrix of the task gradients from one batched backward pass that computes no weight gradient
      of the trunk, then one ordinary backward with the method's weights
      (:mod:`metalib.multitask.gramian`);
    - ``famo``: :class:`metalib.multitask.famo.FAMO` through ``MultiTaskStep``: the equal-weighting
      step on FAMO's scalarised loss, then the losses of the same batch again without gradients (a
      forward pass) for FAMO's weight update, as in Liu et al.'s supervised experiments;
    - ``famo_next_step``: FAMO updating its weights from the next step's losses instead, with no
      extra forward pass (the same algorithm on a fixed batch: :mod:`metalib.multitask.famo`);
    - ``equal_reforward``: the equal-weighting step followed by that forward pass without gradients:
      the least a method that reads the losses after the step can cost (``famo``'s floor);
    - ``pcgrad_jacobian``: the same PCGrad update from the full task Jacobian, also from **one**
      batched backward (``torch.autograd.grad(..., is_grads_batched=True)``);
    - ``pcgrad_loop``: the same PCGrad update with the Jacobian from ``T`` separate backward passes
      (:func:`metalib.multitask.jacobian.task_jacobian_loop`), the way most implementations do it.

    Every kind runs ``--warmup`` untimed steps, then ``--repeats`` timed blocks of ``--steps``
    steps, interleaved so that a change of machine load hits all alike, in a new random order each
    round (in a fixed order a kind's blocks ran faster or slower after a given neighbour: FAMO at
    ``T = 8`` came out below equal weighting); the figure is the median block's time per step.
    The targets: at ``T = 4``, a PCGrad or MGDA step at most 1.5 times an equal-weighting step on
    2 CPU cores, a FAMO step at most 1.2 times (``famo_next_step``; ``famo`` cannot go below
    ``equal_reforward``).

How to run it (from the repository root, on a quiet machine)
    python benchmarks/multitask_speed.py --device cpu         # stores results/benchmarks/multitask_speed_cpu.json
    python benchmarks/multitask_speed.py --device cuda
"""
from __future__ import annotations

import argparse
import itertools
import statistics

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
from torch import nn

from metalib.backbones import MLP
from metalib.multitask import HardSharing, pcgrad, task_jacobian_loop, write_gradients
from metalib.multitask.glyph_tasks import KINDS, TASKS, glyph_multitask_set, head_width, task_losses
from metalib.multitask.training import MultiTaskStep
from metalib.results import save_results
from timing import timed   # benchmarks/timing.py, beside this script

TRUNK = (28 * 28, 256, 128)
"""The widths of the shared trunk's linear layers (stored with the results)."""
KINDS_OF_STEP = ("equal", "pcgrad", "mgda", "famo", "famo_next_step", "equal_reforward", "pcgrad_jacobian",
                 "pcgrad_loop")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: metalib.get_device())")
    p.add_argument("--tasks", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--steps", type=int, default=20, help="steps per timed block (default: 20)")
    p.add_argument("--repeats", type=int, default=40, help="timed blocks per kind (default: 40)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default=None, help="results name (default: multitask_speed_<device type>)")
    return p.parse_args()


def network(data, tasks):
    trunk = nn.Sequential(MLP(list(TRUNK)), nn.ReLU())
    return HardSharing(trunk, [nn.Linear(TRUNK[-1], head_width(data, t)) for t in tasks])


def batches(data, batch, device):
    """One shuffled pass over the glyphs in batches of ``batch``, on ``device``; the steps cycle through it."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    out = []
    for start in range(0, len(data) - batch + 1, batch):
        part = data.subset(order[start:start + batch])
        out.append(type(part)(part.x.to(device), {k: v.to(device) for k, v in part.targets.items()},
                              part.classes))
    return out


def make_step(kind, model, data, tasks, batch, device):
    parts, counter = batches(data, batch, device), itertools.count()
    kinds = [KINDS[t] for t in tasks]

    def next_losses():  # the losses of the next batch
        part = parts[next(counter) % len(parts)]
        return lambda: task_losses(model(part.x), part, tasks)
    if kind in ("equal", "equal_reforward", "pcgrad_loop"):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        shared, task = model.shared_parameters(), model.task_parameters()

        def step():
            optimizer.zero_grad(set_to_none=True)
            losses = next_losses()
            if kind == "pcgrad_loop":
                jac = task_jacobian_loop(losses(), shared + task)
                n = sum(p.numel() for p in shared)
                write_gradients(shared, pcgrad(jac[:, :n]))
                write_gradients(task, jac[:, n:].sum(0))
            else:
                losses().sum().backward()
            optimizer.step()
            if kind == "equal_reforward":
                with torch.no_grad():
                    losses()
        return step
    if kind in ("famo", "famo_next_step"):
        runner = MultiTaskStep(model.shared_parameters(), model.task_parameters(), "famo", kinds)

        def step():
            losses = next_losses()
            runner.step(losses(), after=losses if kind == "famo" else None)
        return step
    method, trunk = ("pcgrad", None) if kind == "pcgrad_jacobian" else (kind, model.trunk)
    runner = MultiTaskStep(model.shared_parameters(), model.task_parameters(), method, kinds, trunk=trunk,
                           heads=model.heads if trunk is not None else None)
    return lambda: runner.step(next_losses()())


def main() -> None:
    args = parse_args()
    device = torch.device(args.device) if args.device else metalib.get_device()
    data = glyph_multitask_set()
    rows = []
    for t in args.tasks:
        tasks = TASKS[:t]
        torch.manual_seed(0)
        steps = {k: make_step(k, network(data, tasks).to(device), data, tasks, args.batch, device)
                 for k in KINDS_OF_STEP}
        for k in KINDS_OF_STEP:
            timed(steps[k], args.warmup, device)
        blocks = {k: [] for k in KINDS_OF_STEP}
        order = torch.Generator().manual_seed(t)
        for _ in range(args.repeats):
            for i in torch.randperm(len(KINDS_OF_STEP), generator=order).tolist():
                k = KINDS_OF_STEP[i]
                blocks[k].append(timed(steps[k], args.steps, device) / args.steps)
        ms = {k: 1000 * statistics.median(v) for k, v in blocks.items()}
        row = {"tasks": t, **{f"{k}_ms": round(v, 3) for k, v in ms.items()},
               **{f"{k}_vs_equal": round(ms[k] / ms["equal"], 3) for k in KINDS_OF_STEP if k != "equal"}}
        rows.append(row)
        print(f"T={t}: " + ", ".join(f"{k} {ms[k]:.2f} ms" for k in KINDS_OF_STEP)
              + "; against equal: " + ", ".join(f"{k} {row[k + '_vs_equal']:.2f}x"
                                                 for k in KINDS_OF_STEP if k != "equal"))
    path = save_results("benchmarks/" + (args.out or f"multitask_speed_{device.type}"),
                        {"steps": rows, "batch": args.batch, "trunk": list(TRUNK)}, device=device)
    print(f"stored {path}")


if __name__ == "__main__":
    main()
