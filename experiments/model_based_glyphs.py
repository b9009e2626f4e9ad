"""Chapter 5's comparison: black-box, fast-weight, metric and latent-space learners on the same glyph tasks.

What it measures
    Every learner is meta-trained on 3-way 1-shot tasks of glyph characters (5 queries per class,
    16 tasks per step, Adam with learning rate 1e-3, ``--steps`` steps) with the chapter's 14x14
    images and Conv4 embedding (:mod:`metalib.model_based.glyph_protocol`), then tested on
    ``--episodes`` 2-way and 3-way 1-shot tasks from the held-out test alphabets (the same tasks for
    every learner): mean accuracy with a 95% interval. Beside the accuracy it records what each
    costs: seconds of meta-training, milliseconds per test task, parameters, and the bytes of the
    autograd graph one meta-training step keeps for its backward pass
    (:func:`metalib.profiling.graph_bytes`, which does not depend on the allocator or the device).

    Learners: the four black-box sequence learners (transformer, SNAIL, MANN, LSTM) on
    label-concatenated sequences; Meta Networks; a Prototypical Network with a learned metric scale
    and TADAM (the same network with FiLM from a task encoder); LEO on the frozen embedding of the
    trained Prototypical Network.

    Santoro et al.'s protocol: the transformer, MANN and the LSTM are also trained on online
    episodes (3 classes, 10 drawings each, every label one step after its image) and scored by
    instance: the accuracy the 1st, 2nd, ..., 10th time a class is shown.

How to run it
    The default budget, on 2 CPU cores (about 25 minutes; the chapter reads the stored file)::

        python experiments/model_based_glyphs.py --device cpu --out model_based_glyphs_cpu

    At the full budget on a GPU (20,000 steps, 1,000 test episodes)::

        METALIB_BUDGET=full python experiments/model_based_glyphs.py

    Results go to ``results/<--out>.json`` through :func:`metalib.results.save_results`, rewritten
    after every learner, so an interrupted run keeps what it finished.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F

from metalib import budget
from metalib.model_based import MetaNetwork, label_sequences, online_sequences
from metalib.model_based.glyph_protocol import (HIDDEN, SEQUENCE_LEARNERS, embedding, query_scores,
                                                sequence_learner, shrink)
from metalib.profiling import graph_bytes
from metalib.results import save_results
from metalib.task_embedding import LEO, TADAM, FiLMConv4

WAY, SHOT, QUERIES, TASKS, LR = 3, 1, 5, 16, 1e-3
ONLINE_DRAWINGS = 10
METHODS = (*SEQUENCE_LEARNERS, "metanet", "protonet", "tadam", "leo")
ONLINE = ("transformer", "mann", "lstm")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--online", nargs="*", choices=ONLINE, default=list(ONLINE),
                   help="learners also trained in Santoro et al.'s online protocol")
    p.add_argument("--steps", type=int, default=budget.pick(default=2000, full=20_000))
    p.add_argument("--episodes", type=int, default=budget.pick(default=500, full=1000))
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="model_based_glyphs")
    args = p.parse_args()
    if min(args.steps, args.episodes) < 1:
        p.error("--steps and --episodes must be >= 1")
    if "leo" in args.methods and "protonet" not in args.methods:
        p.error("LEO reads the trained Prototypical Network's embedding: add protonet to --methods")
    return args


class Task:
    """Training and test tasks of one setting, shrunk to 14x14."""

    def __init__(self, split, way, shot, queries, device, seed):
        self.sampler = metalib.EpisodeSampler(split, way, shot, queries, device=device, seed=seed)
        self.way = way

    def sample(self, b):
        return shrink(self.sampler.sample(b))


def build(method: str, length: int):
    if method in SEQUENCE_LEARNERS:
        return sequence_learner(method, WAY, length)
    if method == "metanet":
        return MetaNetwork(embedding(), HIDDEN, WAY)
    if method in ("protonet", "tadam"):
        return TADAM(FiLMConv4(hidden=HIDDEN, pool_blocks=3), HIDDEN, film=method == "tadam")
    raise ValueError(method)


def loss_and_scores(method, model, episode, way, generator, frozen=None):
    """Query scores ``[B, M, way]``, labels ``[B, M]`` for any learner."""
    if method in SEQUENCE_LEARNERS:
        return query_scores(model, label_sequences(episode, WAY, generator=generator), way)
    if method == "leo":
        z = [frozen(x.flatten(0, 1)).unflatten(0, x.shape[:2]) for x in (episode.support_x, episode.query_x)]
        return model(z[0], episode.support_y, z[1], way).logits, episode.query_y
    scores = model(episode.support_x, episode.support_y, episode.query_x, n_way=WAY if method == "metanet" else way)
    return scores[..., :way], episode.query_y


def train_and_test(method, model, train, tests, args, device, frozen=None):
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()

    def step(i):
        scores, labels = loss_and_scores(method, model, train.sample(TASKS), WAY, generator, frozen)
        loss = F.cross_entropy(scores.flatten(0, 1), labels.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    start = time.perf_counter()
    losses = metalib.train(step, args.steps, desc=method)
    train_s = time.perf_counter() - start
    _, graph = graph_bytes(lambda: loss_and_scores(method, model, train.sample(TASKS), WAY, generator, frozen))
    model.eval()
    out = {"train_s": train_s, "steps": args.steps, "graph_bytes_per_step": graph,
           "parameters": sum(p.numel() for p in model.parameters()),
           "train_loss_last50": float(sum(losses[-50:]) / len(losses[-50:]))}
    for name, tasks in tests.items():
        correct, start = [], time.perf_counter()
        with torch.no_grad():
            for _ in range(args.episodes // 50):
                scores, labels = loss_and_scores(method, model, tasks.sample(50), tasks.way, generator, frozen)
                correct.append((scores.argmax(-1) == labels).float().mean(1))
        seconds = time.perf_counter() - start
        accuracy = metalib.evaluation.mean_ci95(torch.cat(correct))
        out[name] = {"mean": accuracy.mean, "ci95": accuracy.ci95, "n": accuracy.n,
                     "test_ms_per_task": 1000 * seconds / accuracy.n}
    return out


def online(method, train, test, args, device):
    """Santoro et al.'s protocol: labels one step late, accuracy by instance."""
    generator = torch.Generator().manual_seed(args.seed)
    model = sequence_learner(method, WAY, WAY * ONLINE_DRAWINGS).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()

    def step(i):
        seq = online_sequences(train.sample(TASKS), WAY, generator)
        loss = F.cross_entropy(model(seq.inputs).flatten(0, 1), seq.labels.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    start = time.perf_counter()
    metalib.train(step, args.steps, desc=f"{method} online")
    train_s = time.perf_counter() - start
    model.eval()
    hits = torch.zeros(ONLINE_DRAWINGS)
    counts = torch.zeros(ONLINE_DRAWINGS)
    with torch.no_grad():
        for _ in range(args.episodes // 50):
            seq = online_sequences(test.sample(50), WAY, generator)
            right = (model(seq.inputs).argmax(-1) == seq.labels).float()
            hits += torch.zeros(ONLINE_DRAWINGS).index_add_(0, seq.instance.flatten().cpu() - 1, right.flatten().cpu())
            counts += torch.bincount(seq.instance.flatten().cpu() - 1, minlength=ONLINE_DRAWINGS).float()
    return {"accuracy_by_instance": (hits / counts).tolist(), "train_s": train_s, "steps": args.steps,
            "episodes": args.episodes}


def main() -> None:
    args = parse_args()
    device = metalib.get_device(args.device)
    torch.set_num_threads(1) if device.type == "cpu" else None
    command = f"METALIB_BUDGET={budget.name()} python experiments/model_based_glyphs.py {shlex.join(sys.argv[1:])}".strip()
    train_split, _, test_split = metalib.data.load("glyphs").split()
    train = Task(train_split, WAY, SHOT, QUERIES, device, args.seed + 1)
    tests = {f"{w}w1s": Task(test_split, w, 1, QUERIES, device, 10_000 + w) for w in (2, 3)}
    results = {"protocol": {"data": "glyphs (alphabet-disjoint split), 14x14", "train": f"{WAY}-way {SHOT}-shot, "
                            f"{QUERIES} queries per class, {TASKS} tasks per step, Adam lr {LR}",
                            "steps": args.steps, "test_episodes": args.episodes, "test_queries": QUERIES,
                            "embedding": f"Conv4, {HIDDEN} filters, 3 max-pools", "budget": budget.name(),
                            "online": f"{WAY} classes x {ONLINE_DRAWINGS} drawings, labels one step late"},
               "methods": {}, "online": {}}
    length = WAY * (SHOT + QUERIES)
    protonet = None
    for method in args.methods:
        metalib.seed_everything(args.seed)
        if method == "leo":
            frozen = protonet.backbone.eval()
            for p in frozen.parameters():
                p.requires_grad_(False)
            model = LEO(HIDDEN, latent_dim=16, inner_steps=5).to(device)
            out = train_and_test(method, model, train, tests, args, device,
                                 frozen=lambda x: frozen(x[:, None])[:, 0])
        else:
            model = build(method, length).to(device)
            out = train_and_test(method, model, train, tests, args, device)
            protonet = model if method == "protonet" else protonet
        results["methods"][method] = out
        save_results(args.out, results, device, command=command)
        print(f"{method:12} 2w1s {100 * out['2w1s']['mean']:.1f}  3w1s {100 * out['3w1s']['mean']:.1f}  "
              f"({out['train_s']:.0f} s)", flush=True)
    online_train = Task(train_split, WAY, 1, ONLINE_DRAWINGS - 1, device, args.seed + 2)
    online_test = Task(test_split, WAY, 1, ONLINE_DRAWINGS - 1, device, 20_000)
    for method in args.online:
        metalib.seed_everything(args.seed)
        results["online"][method] = online(method, online_train, online_test, args, device)
        save_results(args.out, results, device, command=command)
        print(method, "online", [round(a, 2) for a in results["online"][method]["accuracy_by_instance"]], flush=True)


if __name__ == "__main__":
    main()
