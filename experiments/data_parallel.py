"""A few meta-training steps in one process or split over several: the same gradients and parameters.

What it runs
    Tiny, seeded versions of three kinds of step, each ``--steps`` optimiser steps from the same
    initialisation on the same data, in float32 and float64. The meta-learners take plain gradient
    steps (lr 0.1): Adam divides each gradient by its running scale, so a gradient that is zero in
    exact arithmetic (a convolution's bias before batch norm, the last bias of a Prototypical
    Network's embedding, which every distance cancels) becomes a step of the full learning rate
    whose sign is the sign of round-off, in one process as in two.

    - ``maml``: second-order MAML (one inner step of 0.4) on a meta-batch of 4 five-way one-shot
      tasks of random 28x28 images, Finn et al.'s Omniglot network with 16 filters;
    - ``reptile``: Reptile (two inner steps of 0.1, outer step 0.5) on the same tasks: each process
      moves ``θ`` towards its tasks' adapted weights and the processes average ``θ``;
    - ``protonet``: a Prototypical Network over a two-layer MLP embedding, 4 tasks per step;
    - ``protonet_bn``: the same over :class:`metalib.backbones.Conv4` with 16 filters, whose batch
      norm pools the statistics of all of a step's tasks;
    - ``multitask_equal``, ``multitask_pcgrad``: a hard-sharing MLP with 3 regression heads on a
      batch of 8 examples, equal weighting and PCGrad (:class:`metalib.multitask.training.MultiTaskStep`).

    Under ``torchrun`` each of the ``R`` processes takes ``1 / R`` of every meta-batch (or batch of
    examples) through :mod:`metalib.distributed`; rank 0 saves, for each step kind and dtype, the
    first step's gradient and the parameters after the last step, flattened, and for the
    meta-learners the mean accuracy on 5 test tasks scored in batches of 3 (split 1 + 2 and 1 + 1
    over two processes; :func:`metalib.evaluate` with ``ranks=``). Compare two files with
    ``--compare``: every kind but ``protonet_bn`` matches to round-off (its batch norm sees half
    the tasks per process, so its gradient changes).

How to run it (from the repository root)
    python experiments/data_parallel.py --save one.pt
    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 experiments/data_parallel.py --save two.pt
    python experiments/data_parallel.py --compare one.pt two.pt
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F
from torch import nn

from metalib import distributed
from metalib.backbones import MLP, Conv4, Conv4Classifier
from metalib.data import FewShotDataset
from metalib.metric import PrototypicalNetwork
from metalib.multitask import HardSharing
from metalib.multitask.training import MultiTaskStep
from metalib.optimization import MAML, Reptile

KINDS = ("maml", "reptile", "protonet", "protonet_bn", "multitask_equal", "multitask_pcgrad")
EXACT = tuple(k for k in KINDS if k != "protonet_bn")
"""The kinds whose split run must equal the one-process run up to round-off."""


def noise_sampler(seed: int = 0) -> metalib.EpisodeSampler:
    images = torch.randint(0, 256, (20, 6, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(seed))
    return metalib.EpisodeSampler(FewShotDataset.from_tensor("noise", images), 5, 1, 2, device="cpu", seed=seed)


def as_dtype(episode, dtype: torch.dtype):
    return dataclasses.replace(episode, support_x=episode.support_x.to(dtype), query_x=episode.query_x.to(dtype))


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).cpu() for t in tensors])


def run_meta(kind: str, steps: int, ranks: distributed.Ranks, dtype: torch.dtype) -> dict:
    """MAML, Reptile or a Prototypical Network: ``steps`` steps on meta-batches of 4 tasks (plain
    gradient steps of 0.1; Reptile its own meta-step)."""
    torch.manual_seed(0)
    if kind == "maml":
        learner = MAML(Conv4Classifier(5, hidden=16), inner_lr=0.4, inner_steps=1).to(dtype)
    elif kind == "reptile":
        learner = Reptile(Conv4Classifier(5, hidden=16), inner_lr=0.1, inner_steps=2).to(dtype)
    else:
        backbone = Conv4(hidden=16) if kind == "protonet_bn" else nn.Sequential(nn.Flatten(), MLP([784, 64, 32]))
        learner = PrototypicalNetwork(backbone).to(dtype)
    sampler = noise_sampler()
    optimizer = torch.optim.SGD(learner.parameters(), lr=0.1)
    first, losses = None, []
    for _ in range(steps):
        episode = ranks.shard(as_dtype(sampler.sample(4), dtype))
        if kind == "reptile":
            direction = learner.meta_step(episode.support_x, episode.support_y, outer_lr=0.5)
            ranks.average_parameters(learner)
            if first is None:       # the step taken: the mean of the ranks' directions
                first = ranks.mean(flat(direction.values()))
            continue
        loss = learner.loss(episode)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ranks.average_gradients(learner.parameters())
        if first is None:
            first = flat(p.grad for p in learner.parameters())
        optimizer.step()
        losses.append(float(ranks.mean(loss.detach())))

    def predict(support_x, support_y, query_x):
        if kind in ("maml", "reptile"):
            return learner.predict(learner.adapt(support_x, support_y, first_order=True), query_x).detach()
        with torch.no_grad():
            return learner(support_x, support_y, query_x)

    tests = noise_sampler(seed=1)
    accuracy = metalib.evaluate(lambda sx, sy, qx: predict(sx.to(dtype), sy, qx.to(dtype)), tests, episodes=5,
                                batch_size=3, ranks=ranks)
    return {"gradient": first, "parameters": flat(learner.parameters()), "losses": losses,
            "accuracy": torch.tensor([accuracy.mean, accuracy.ci95, accuracy.n], dtype=torch.float64)}


def run_multitask(kind: str, steps: int, ranks: distributed.Ranks, dtype: torch.dtype) -> dict:
    """A hard-sharing network, 3 regression tasks, batches of 8 examples split over the processes."""
    torch.manual_seed(0)
    model = HardSharing(nn.Sequential(MLP([10, 32, 16]), nn.ReLU()), [nn.Linear(16, 1) for _ in range(3)]).to(dtype)
    method = kind.removeprefix("multitask_")
    step = MultiTaskStep(model.shared_parameters(), model.task_parameters(), method, ["regression"] * 3,
                         ranks=ranks)
    g = torch.Generator().manual_seed(1)
    first, losses = None, []
    for _ in range(steps):
        x, y = torch.randn(8, 10, generator=g, dtype=dtype), torch.randn(8, 3, generator=g, dtype=dtype)
        part = ranks.part(8)
        outputs = model(x[part])
        task_losses = torch.stack([F.mse_loss(out.squeeze(-1), y[part, t]) for t, out in enumerate(outputs)])
        step.step(task_losses)
        if first is None:
            first = flat(p.grad for p in model.parameters())
        losses.append(float(ranks.mean(task_losses.detach().sum())))
    return {"gradient": first, "parameters": flat(model.parameters()), "losses": losses}


def run(kinds, steps: int, ranks: distributed.Ranks) -> dict:
    out = {}
    for dtype in (torch.float32, torch.float64):
        for kind in kinds:
            go = run_multitask if kind.startswith("multitask") else run_meta
            out[f"{kind}/{str(dtype).removeprefix('torch.')}"] = go(kind, steps, ranks, dtype)
    return out


def compare(one: dict, two: dict) -> dict:
    """The largest gap between two runs' gradients and parameters, for each kind and dtype."""
    gaps = {}
    for key in (k for k in one if k != "processes"):
        gaps[key] = {what: float((one[key][what] - two[key][what]).abs().max())
                     for what in ("gradient", "parameters", "accuracy") if what in one[key]}
        gaps[key]["scale"] = float(one[key]["gradient"].abs().max())
    return gaps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--save", help="where rank 0 saves the gradients and parameters (torch.save)")
    p.add_argument("--compare", nargs=2, metavar=("ONE", "TWO"), help="print the gaps between two saved runs")
    args = p.parse_args()
    if args.compare:
        print(json.dumps(compare(*(torch.load(f) for f in args.compare)), indent=1))
        return
    ranks, _ = distributed.setup("cpu")
    torch.use_deterministic_algorithms(True)
    result = run(args.kinds, args.steps, ranks)
    if ranks.main and args.save:
        torch.save({**result, "processes": ranks.world_size}, args.save)
        print(f"{ranks.world_size} process(es): saved {len(result)} runs to {args.save}")
    distributed.teardown()


if __name__ == "__main__":
    main()
