"""Four metric-based methods on real Omniglot, at paper scale: 5/20-way, 1/5-shot test accuracy.

What it reproduces
    The Omniglot tables of Koch et al. (2015, siamese networks; here trained with the batch-hard
    triplet loss of Hermans et al., 2017), Vinyals et al. (2016, Matching Networks, without
    full-context embeddings), Snell et al. (2017, Prototypical Networks) and Sung et al. (2018,
    Relation Networks): mean accuracy with a 95% interval in 5-way 1-shot, 5-way 5-shot, 20-way 1-shot
    and 20-way 5-shot test tasks. Every network is the Conv4 of those papers (the Relation Network's
    encoder pools twice and its relation module is the paper's).

    The data are Omniglot's two *minimal* background archives (242 characters of 8 alphabets,
    20 drawings each, ``load_omniglot_minimal``), not the 1623 characters of the papers, so the
    figures are close to, not the same as, the published ones. As in the papers, each character
    turned by 90, 180 and 270 degrees is a class of its own (``with_rotations()``: 968 classes), and
    meta-training and test classes come from different alphabets (``split(fractions=(0.6, 0, 0.4),
    seed=0)``: every rotation of a character stays with its alphabet). The alphabets of each part
    are printed and stored.

Protocol
    One model per method and test setting, trained with the test's shot (as the papers do) and
    ``--train-way`` classes per task (default 20; Snell et al. used 60 for Prototypical Networks),
    15 queries per class (5 where ``shot + 15`` exceeds the 20 drawings), ``--tasks`` tasks per step,
    Adam with learning rate 1e-3 halved every ``--halve-every`` episodes (Snell et al.: 2000), for
    ``--steps`` steps. Test: ``--episodes`` tasks from the test alphabets, 15 queries per class in
    5-way tasks and 5 in 20-way tasks, the model in eval mode (batch norm with its running
    statistics) under ``torch.no_grad()``. Every method sees the same test tasks in a setting
    (the test sampler's seed depends only on ``--seed`` and the setting).

How to run it
    On a GPU, at the full budget (20,000 steps, 1000 test episodes per setting)::

        METALIB_BUDGET=full python experiments/metric_omniglot.py

    A reduced CPU run, stored under another name::

        python experiments/metric_omniglot.py --device cpu --steps 300 --episodes 200 --out metric_omniglot_cpu

    The archives are read from ``--data`` (default: ``$METALIB_DATA``, else ``../shared/data/omniglot``
    beside the repository when it exists, else metalib's cache). Results go to
    ``results/<--out>.json`` (default ``metric_omniglot``) through :func:`metalib.results.save_results`,
    rewritten after every (method, setting), so an interrupted run keeps what it finished.

    On several GPUs (or CPU processes), each process taking its part of every step's tasks and of
    the test tasks (:mod:`metalib.distributed`)::

        METALIB_BUDGET=full torchrun --standalone --nproc_per_node 4 experiments/metric_omniglot.py --tasks 4

    The papers' protocol is one task per step; split over ``R`` processes a step needs ``--tasks``
    divisible by ``R``, a larger meta-batch, and each process's batch norm pools the statistics of
    its own tasks only (the running statistics are averaged over the processes before the test).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch

from metalib import budget, distributed
from metalib.backbones import Conv4
from metalib.metric import MatchingNetwork, PrototypicalNetwork, RelationNetwork, SiameseNetwork
from metalib.metric.base import FewShotClassifier
from metalib.results import save_results
from omniglot_protocol import SETTINGS, default_data, load_split, test_queries

METHODS = ("proto", "matching", "siamese", "relation")
TRAIN_QUERIES, LR = 15, 1e-3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--steps", type=int, default=budget.pick(default=200, full=20_000),
                   help="training steps per model (default: 200, full budget 20000)")
    p.add_argument("--episodes", type=int, default=budget.pick(default=100, full=1000),
                   help="test episodes per setting (default: 100, full budget 1000)")
    p.add_argument("--train-way", type=int, default=20, help="classes per training task (Snell et al.: 60)")
    p.add_argument("--tasks", type=int, default=1, help="tasks per training step (meta-batch)")
    p.add_argument("--halve-every", type=int, default=2000, help="halve the learning rate every so many steps")
    p.add_argument("--matching-scale", type=float, default=10.0,
                   help="Matching Networks: factor on the cosine similarities (the paper: 1)")
    p.add_argument("--eval-batch", type=int, default=10, help="test tasks per forward pass")
    p.add_argument("--data", default=default_data(), help="folder holding Omniglot's minimal zip archives")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: metalib.get_device())")
    p.add_argument("--seed", type=int, default=0, help="seed of the models and samplers (the split uses 0)")
    p.add_argument("--out", default="metric_omniglot", help="results name: results/<out>.json")
    args = p.parse_args()
    if min(args.steps, args.episodes, args.train_way, args.tasks, args.halve_every, args.eval_batch) < 1:
        p.error("--steps, --episodes, --train-way, --tasks, --halve-every and --eval-batch must be >= 1")
    return args


def make_model(method: str, matching_scale: float) -> FewShotClassifier:
    if method == "proto":
        return PrototypicalNetwork(Conv4())
    if method == "matching":
        return MatchingNetwork(Conv4(), scale=matching_scale)
    if method == "siamese":
        return SiameseNetwork(Conv4(), loss="triplet")
    return RelationNetwork()


def train_model(model, train, shot: int, args, device: torch.device, ranks: distributed.Ranks) -> dict:
    """Meta-train ``model`` on ``args.train_way``-way ``shot``-shot tasks; returns what was used. Under
    ``torchrun`` each process takes its part of every step's tasks (:mod:`metalib.distributed`)."""
    queries = TRAIN_QUERIES if shot + TRAIN_QUERIES <= int(train.counts.min()) else 5
    sampler = metalib.EpisodeSampler(train, args.train_way, shot, queries, device=device, seed=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.halve_every, gamma=0.5)
    model.train()

    def step(i: int) -> torch.Tensor:
        loss = model.loss(ranks.shard(sampler.sample(args.tasks)), n_way=args.train_way)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ranks.average_gradients(model.parameters())
        optimizer.step()
        schedule.step()
        return ranks.mean(loss.detach())

    losses = metalib.train(step, args.steps, desc=f"{type(model).__name__} {args.train_way}w{shot}s",
                           progress=None if ranks.main else False)
    ranks.average_parameters(model)     # batch norm's running statistics, gathered by each process
    return {"train_way": args.train_way, "train_shot": shot, "train_queries": queries,
            "train_loss_last50": sum(losses[-50:]) / len(losses[-50:])}   # mean of the last 50 steps


def test_model(model, test, way: int, shot: int, setting_index: int, args, device: torch.device,
               ranks: distributed.Ranks):
    """Accuracy over ``args.episodes`` test tasks (the same tasks for every method)."""
    sampler = metalib.EpisodeSampler(test, way, shot, test_queries(way), device=device,
                                     seed=10_000 + 100 * args.seed + setting_index)
    model.eval()
    with torch.no_grad():
        return metalib.evaluate(lambda sx, sy, qx: model(sx, sy, qx, n_way=way), sampler,
                                episodes=args.episodes, batch_size=args.eval_batch, ranks=ranks)


def main() -> None:
    args = parse_args()
    ranks, device = distributed.setup(args.device)
    launcher = f"torchrun --nproc_per_node {ranks.world_size}" if ranks.world_size > 1 else "python"
    command = (f"METALIB_BUDGET={budget.name()} {launcher} experiments/metric_omniglot.py "
               f"{shlex.join(sys.argv[1:])}").strip()
    say = print if ranks.main else (lambda *a, **k: None)
    say(f"{budget.name()} budget on {device}: {args.steps} steps, {args.episodes} test episodes per setting")
    train, test, split = load_split(args.data)
    results = {
        "split": split,
        "protocol": {"steps": args.steps, "train_way": args.train_way, "tasks_per_step": args.tasks,
                     "train_queries": f"{TRAIN_QUERIES} per class (5 where shot + 15 exceeds the drawings)",
                     "optimizer": f"Adam lr {LR}, halved every {args.halve_every} steps",
                     "test_episodes": args.episodes, "test_queries": {"5-way": 15, "20-way": 5},
                     "matching_scale": args.matching_scale, "siamese_loss": "batch-hard triplet, margin 1",
                     "matching_fce": False, "budget": budget.name(), "seed": args.seed,
                     "deterministic": device.type == "cpu"},
        "methods": {},
    }
    for method in args.methods:
        for index, setting in enumerate(SETTINGS):
            if setting not in args.settings:
                continue
            way, shot = SETTINGS[setting]
            metalib.seed_everything(args.seed, deterministic=device.type == "cpu")
            model = make_model(method, args.matching_scale).to(device)
            start = time.perf_counter()
            used = train_model(model, train, shot, args, device, ranks)
            trained = time.perf_counter()
            accuracy = test_model(model, test, way, shot, index, args, device, ranks)
            done = time.perf_counter()
            results["methods"].setdefault(method, {})[setting] = {
                "mean": accuracy.mean, "ci95": accuracy.ci95, "n": accuracy.n, "steps": args.steps, **used,
                "test_queries": test_queries(way), "train_s": trained - start, "test_s": done - trained,
                "wall_s": done - start}
            path = save_results(args.out, results, device, command=command)
            say(f"{method:9} {setting:6} {accuracy.percent()}  ({done - start:.0f} s)  -> {path}")


if __name__ == "__main__":
    main()
    distributed.teardown()
