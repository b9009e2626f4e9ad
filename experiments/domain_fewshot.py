"""Chapter 6's cross-domain few-shot learning: glyphs (rendered strokes) to real Omniglot (pen strokes).

What it measures
    Few-shot learners meta-trained on the **glyph** characters' training alphabets (the source
    domain, labelled), then given ``k`` labelled examples per class of characters from real
    **Omniglot** alphabets none of them saw (the target domain): 5-way tasks, ``k`` = 1, 5 and 10,
    10 queries per class, the same tasks for every learner. Images are averaged to 14x14 and every
    learner has the same Conv4 embedding (32 filters, three pools: 32 numbers), as in chapter 5.

    - ``untrained``: the random embedding, nearest prototype (the floor);
    - ``protonet``: a Prototypical Network trained on 20-way 1-shot glyph tasks;
    - ``finetune``: a classifier of all glyph training classes, then a new linear head trained on
      each target task's support set (100 steps of gradient descent, the embedding frozen);
    - ``maml``: MAML's initialisation trained on 5-way 1-shot glyph tasks (one inner step of 0.4,
      second order), adapted on the support set with 3 steps;
    - each of the three ``+ MMD``: the same training plus ``MMD_WEIGHT`` times the multi-kernel
      MMD between the embeddings of the glyph batch and of as many **unlabelled** images from
      Omniglot's training alphabets (one forward pass for both, so batch norm sees both domains);
    - ``oracle``: the Prototypical Network trained on labelled tasks of Omniglot's training alphabets
      (152 characters); ``oracle (rotations)``: the same with each character also turned by 90, 180
      and 270 degrees as new classes (608, about as many as the 618 glyph training characters).

    The gap that adaptation should close is the oracle's accuracy minus the source-only learner's.

How to run it
    python experiments/domain_fewshot.py --out domain_fewshot_cpu          # default: 2 seeds, about 23 minutes
    METALIB_BUDGET=full python experiments/domain_fewshot.py --out domain_fewshot_full   # 5 seeds, 4x the steps

    Results go to ``results/<--out>.json`` through :func:`metalib.results.save_results`. Omniglot's
    minimal archives are read from ``$METALIB_DATA`` or ``../shared/data/omniglot``.
"""
from __future__ import annotations

import argparse
import copy
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F
from torch import nn

from metalib import EpisodeSampler, budget
from metalib.data.omniglot import load_omniglot_minimal
from metalib.domain import mmd2
from metalib.evaluation import mean_ci95
from metalib.finetune import adapt
from metalib.metric.prototypical import prototypes, prototypical_logits
from metalib.model_based.glyph_protocol import HIDDEN, embedding, shrink
from metalib.optimization import MAML
from metalib.results import save_results

try:
    from omniglot_protocol import default_data
except ImportError:    # imported as experiments.domain_fewshot (the tests)
    from experiments.omniglot_protocol import default_data

SHOTS = (1, 5, 10)
WAY, QUERIES, TEST_TASKS = 5, 10, 500
MMD_WEIGHT = 1.0
LEARNERS = ("untrained", "protonet", "protonet + MMD", "finetune", "finetune + MMD", "maml", "maml + MMD",
            "oracle", "oracle (rotations)")


def small_images(data) -> torch.Tensor:
    """Every image of ``data`` as floats in [0, 1], averaged to 14x14: ``[C, E, 1, 14, 14]``."""
    x = data.images.float().div(255).flatten(0, 1)[:, None]
    return F.avg_pool2d(x, 2).unflatten(0, data.images.shape[:2])


class Tasks:
    """Few-shot tasks of ``data`` at 14x14: support ``[B, N*K, ...]``, queries ``[B, N*Q, ...]`` and their labels."""

    def __init__(self, data, way, shot, queries, seed):
        self.sampler = EpisodeSampler(data, way, shot, queries, device="cpu", seed=seed)
        self.way, self.shot = way, shot

    def sample(self, batch):
        episode = shrink(self.sampler.sample(batch))
        return episode.support_x, episode.support_y, episode.query_x, episode.query_y


class Unlabelled:
    """Random batches of target images, their labels never read."""

    def __init__(self, images, seed):
        self.images = images.flatten(0, 1)
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, n):
        return self.images[torch.randint(len(self.images), (n,), generator=self.generator)]


def alignment(z, n_source, weight):
    """``weight`` times the MMD between the first ``n_source`` rows of ``z`` and the rest (0 without target rows)."""
    return weight * mmd2(z[:n_source], z[n_source:]) if len(z) > n_source else z.new_zeros(())


def train_protonet(source, steps, seed, target=None, weight=MMD_WEIGHT):
    """A Prototypical Network on 20-way 1-shot tasks of ``source`` (+ MMD towards ``target`` images)."""
    torch.manual_seed(seed)
    net = embedding()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        sx, sy, qx, qy = source.sample(1)
        images = torch.cat([sx[0], qx[0]])
        extra = target.sample(len(images)) if target is not None else images[:0]
        z = net(torch.cat([images, extra]))
        zs, zq = z[:len(sx[0])], z[len(sx[0]):len(images)]
        logits = prototypical_logits(zq[None], prototypes(zs[None], sy, source.way))[0]
        loss = F.cross_entropy(logits, qy[0])
        loss = loss + alignment(z, len(images), weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def train_classifier(data, images, steps, seed, target=None, weight=MMD_WEIGHT, batch=100):
    """The embedding of a classifier of every class of ``data`` (+ MMD towards ``target`` images)."""
    torch.manual_seed(seed)
    net, head = embedding(), nn.Linear(HIDDEN, data.num_classes)
    optimiser = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    flat, labels = images.flatten(0, 1), torch.arange(data.num_classes).repeat_interleave(images.shape[1])
    valid = (torch.arange(images.shape[1]) < data.counts[:, None]).flatten()
    flat, labels = flat[valid], labels[valid]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        pick = torch.randint(len(labels), (batch,), generator=generator)
        extra = target.sample(batch) if target is not None else flat[:0]
        z = net(torch.cat([flat[pick], extra]))
        loss = F.cross_entropy(head(z[:batch]), labels[pick]) + alignment(z, batch, weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def train_maml(source, steps, seed, target=None, weight=MMD_WEIGHT, tasks=8):
    """MAML's initialisation on 5-way 1-shot tasks of ``source`` (+ MMD at the initialisation)."""
    torch.manual_seed(seed)
    maml = MAML(nn.Sequential(embedding(), nn.Linear(HIDDEN, WAY)), inner_lr=0.4, inner_steps=1)
    optimiser = torch.optim.Adam(maml.parameters(), lr=1e-3)
    for _ in range(steps):
        sx, sy, qx, qy = source.sample(tasks)
        loss = maml.task_losses(maml.adapt(sx, sy), qx, qy).mean()
        if target is not None:
            glyphs = qx.flatten(0, 1)
            loss = loss + alignment(maml.model[0](torch.cat([glyphs, target.sample(len(glyphs))])),
                                    len(glyphs), weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return maml


@torch.no_grad()
def prototype_accuracy(net, tasks):
    sx, sy, qx, qy = tasks
    B = sx.shape[0]
    zs, zq = net(sx.flatten(0, 1)).unflatten(0, (B, -1)), net(qx.flatten(0, 1)).unflatten(0, (B, -1))
    logits = prototypical_logits(zq, prototypes(zs, sy, WAY))
    return (logits.argmax(-1) == qy).float().mean(1)


def linear_head_accuracy(net, tasks, steps=100, lr=1.0):
    sx, sy, qx, qy = tasks
    B = sx.shape[0]
    with torch.no_grad():
        zs, zq = net(sx.flatten(0, 1)).unflatten(0, (B, -1)), net(qx.flatten(0, 1)).unflatten(0, (B, -1))
    head = nn.Linear(HIDDEN, WAY)
    start = {name: torch.zeros_like(p) for name, p in head.named_parameters()}
    params = adapt(head, start, zs, sy, steps=steps, lr=lr, loss=F.cross_entropy)
    logits = torch.func.vmap(lambda p, z: torch.func.functional_call(head, p, (z,)))(params, zq)
    return (logits.argmax(-1) == qy).float().mean(1)


def maml_accuracy(maml, tasks, steps=3, chunk=50):
    sx, sy, qx, qy = tasks
    correct = []
    for i in range(0, len(sx), chunk):      # pieces of 50 tasks keep the memory small
        # first order: the same adapted values, without keeping the second-order graph
        adapted = maml.adapt(sx[i:i + chunk], sy[i:i + chunk], steps=steps, first_order=True)
        params = {k: v.detach() for k, v in adapted.items()}
        with torch.no_grad():
            correct.append((maml.predict(params, qx[i:i + chunk]).argmax(-1) == qy[i:i + chunk]).float().mean(1))
    return torch.cat(correct)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=budget.pick(default=2, full=5))
    p.add_argument("--steps", type=int, default=budget.pick(default=1500, full=6000),
                   help="training steps of the Prototypical Networks and the classifier")
    p.add_argument("--maml-steps", type=int, default=budget.pick(default=500, full=2000))
    p.add_argument("--test-tasks", type=int, default=TEST_TASKS)
    p.add_argument("--learners", nargs="+", choices=LEARNERS, default=list(LEARNERS))
    p.add_argument("--data", default=default_data(), help="folder of Omniglot's minimal archives")
    p.add_argument("--out", default="domain_fewshot")
    args = p.parse_args()
    torch.set_num_threads(1)   # small networks: one thread is fastest and leaves the other core free
    glyph_train, _, glyph_test = metalib.data.load("glyphs").split()
    real = load_omniglot_minimal(folder=args.data)
    real_train, _, real_test = real.split(fractions=(0.6, 0.0, 0.4), seed=0)
    images = {"glyph_train": small_images(glyph_train), "real_train": small_images(real_train)}  # whole sets
    tests = {f"{k}-shot": Tasks(real_test, WAY, k, QUERIES, seed=1000 + k).sample(args.test_tasks)
             for k in SHOTS}
    glyph_tests = Tasks(glyph_test, WAY, 1, QUERIES, seed=999).sample(args.test_tasks)
    results = {"protocol": {"way": WAY, "shots": list(SHOTS), "queries": QUERIES, "test_tasks": args.test_tasks,
                            "image_side": 14, "mmd_weight": MMD_WEIGHT, "steps": args.steps,
                            "maml_steps": args.maml_steps,
                            "source": {"dataset": "glyphs", "alphabets": glyph_train.alphabets,
                                       "classes": glyph_train.num_classes},
                            "target_unlabelled": {"dataset": real.name, "alphabets": real_train.alphabets,
                                                  "classes": real_train.num_classes},
                            "target_test": {"dataset": real.name, "alphabets": real_test.alphabets,
                                            "classes": real_test.num_classes}},
               "runs": []}
    start = time.perf_counter()
    for seed in range(args.seeds):
        glyph_tasks = {"protonet": Tasks(glyph_train, 20, 1, 3, seed),
                       "maml": Tasks(glyph_train, WAY, 1, QUERIES, seed)}
        unlabelled = Unlabelled(images["real_train"], seed)
        for name in args.learners:
            began = time.perf_counter()
            target = unlabelled if name.endswith("+ MMD") else None
            if name == "untrained":
                torch.manual_seed(seed)
                net, score = embedding().eval(), prototype_accuracy
            elif name.startswith("protonet"):
                net, score = train_protonet(glyph_tasks["protonet"], args.steps, seed, target), prototype_accuracy
            elif name.startswith("oracle"):
                labelled = real_train.with_rotations() if name == "oracle (rotations)" else real_train
                real_tasks = Tasks(labelled, 20, 1, 3, seed)
                net, score = train_protonet(real_tasks, args.steps, seed), prototype_accuracy
            elif name.startswith("finetune"):
                net = train_classifier(glyph_train, images["glyph_train"], args.steps, seed, target)
                score = linear_head_accuracy
            else:
                net, score = train_maml(glyph_tasks["maml"], args.maml_steps, seed, target), maml_accuracy
            trained = time.perf_counter() - began
            row = {"learner": name, "seed": seed, "train_s": trained,
                   "glyph_1-shot": float(score(net, glyph_tests).mean())}
            for key, tasks in tests.items():
                estimate = mean_ci95(score(net, tasks))
                row[key], row[f"{key}_ci95"] = estimate.mean, estimate.ci95
            results["runs"].append(row)
            print(f"seed {seed} {name:>18}: " + ", ".join(f"{k} {row[k]:.3f}" for k in tests)
                  + f", glyphs 1-shot {row['glyph_1-shot']:.3f} ({trained:.0f} s)", flush=True)
    results["seconds"] = time.perf_counter() - start
    results["summary"] = summarise(results["runs"])
    command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    path = save_results(args.out, results, torch.device("cpu"), command=f"METALIB_BUDGET={budget.name()} {command}")
    print(f"wrote {path}")


def summarise(runs):
    """Per learner and shot: the mean over seeds; and the share of the oracle's gap each ``+ MMD`` closes."""
    keys = [k for k in runs[0] if k.endswith("-shot") or k == "glyph_1-shot"]
    learners = list(dict.fromkeys(r["learner"] for r in runs))
    mean = {name: {k: sum(r[k] for r in runs if r["learner"] == name) / sum(r["learner"] == name for r in runs)
                   for k in keys} for name in learners}
    closed = {}
    for name in learners:
        base = name.removesuffix(" + MMD")
        if name.endswith("+ MMD") and base in mean and "oracle" in mean:
            closed[base] = {k: (mean[name][k] - mean[base][k]) / (mean["oracle"][k] - mean[base][k])
                            if mean["oracle"][k] != mean[base][k] else None for k in keys if k != "glyph_1-shot"}
    return {"mean": mean, "gap_closed": closed}


if __name__ == "__main__":
    main()
