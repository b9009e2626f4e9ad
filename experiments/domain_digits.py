"""Chapter 6's font-to-real digits: each adaptation method over a grid of weights, and the validators.

What it measures
    On :mod:`metalib.domain.digits_protocol`'s split (1,800 labelled font digits; real digits, one
    half to adapt on without labels, the other half to score), for every seed: source-only
    training, source-only with the mean teacher's augmentation, the target oracle, and each method
    of :data:`~metalib.domain.digits_protocol.METHODS` at every weight of :data:`WEIGHTS`. For each
    run it stores the target test accuracy and the five label-free validator scores of
    :func:`~metalib.domain.digits_protocol.validator_scores`. Then, per method: the weight each
    validator picks (the highest score, averaged over seeds) and the test accuracy there, beside the
    weight the test labels would pick; and each validator's Spearman correlation with test accuracy
    over all the runs of the grid.

How to run it
    python experiments/domain_digits.py --device cpu --out domain_digits_cpu   # default: 2 seeds, about 4 minutes
    METALIB_BUDGET=full python experiments/domain_digits.py --device cpu --out domain_digits_full   # 5 seeds, 3,000 steps

    Results go to ``results/<--out>.json`` through :func:`metalib.results.save_results`.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import numpy as np
import torch

from metalib import budget
from metalib.domain import train_adaptation
from metalib.domain.digits_protocol import (METHODS, augmentation_of, digit_classifier, digit_domains, make_method,
                                            spearman, validator_scores)
from metalib.results import save_results

WEIGHTS = {"DANN": (0.1, 0.3, 1.0, 3.0), "MMD": (0.3, 1.0, 3.0, 10.0), "CORAL": (1.0, 10.0, 100.0, 1000.0),
           "mean teacher": (1.0, 3.0, 10.0), "entropy": (0.1, 0.3, 1.0)}
VALIDATORS = ("source", "IWV", "DEV", "IM", "reverse")


def run(data, name, weight, seed, steps, oracle=False):
    model = digit_classifier(seed).to(data.source_x.device)
    start = time.perf_counter()
    if oracle:
        train_adaptation(model, data.target_x, data.target_y, steps=steps, seed=seed, progress=False)
    elif name is None or name == "augmentation":
        augment = augmentation_of("mean teacher") if name == "augmentation" else None
        train_adaptation(model, data.source_x, data.source_y, steps=steps, augment=augment, seed=seed, progress=False)
    else:
        train_adaptation(model, data.source_x, data.source_y, data.target_x, make_method(name, model), weight=weight,
                         steps=steps, augment=augmentation_of(name), seed=seed, progress=False)
    seconds = time.perf_counter() - start
    return {"method": name or "source only", "weight": weight, "seed": seed, "seconds": seconds,
            **validator_scores(model, data)}


def summarise(runs, methods, seeds):
    def mean(rows, key):
        return float(np.mean([r[key] for r in rows]))

    source_only = mean([r for r in runs if r["method"] == "source only"], "target")
    summary = {"source only": source_only,
               "augmentation only": mean([r for r in runs if r["method"] == "augmentation"], "target"),
               "oracle": mean([r for r in runs if r["method"] == "oracle"], "target"), "methods": {}}
    grid = [r for r in runs if r["method"] in methods]
    for name in methods:
        rows = [r for r in grid if r["method"] == name]
        by_weight = {w: [r for r in rows if r["weight"] == w] for w in sorted({r["weight"] for r in rows})}
        table = {str(w): {k: mean(rs, k) for k in (*VALIDATORS, "target")} for w, rs in by_weight.items()}
        chosen = {}
        for v in (*VALIDATORS, "target"):
            w = max(table, key=lambda key: table[key][v])
            chosen[v] = {"weight": float(w), "target": table[w]["target"]}
        summary["methods"][name] = {"by_weight": table, "chosen": chosen,
                                    "gain_at_weight_1": (table["1.0"]["target"] - source_only) if "1.0" in table else None}
    summary["spearman"] = {v: spearman([r[v] for r in grid], [r["target"] for r in grid]) for v in VALIDATORS}
    summary["spearman_per_method"] = {
        name: {v: spearman([r[v] for r in grid if r["method"] == name], [r["target"] for r in grid if r["method"] == name])
               for v in VALIDATORS} for name in methods}
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--seeds", type=int, default=budget.pick(default=2, full=5))
    p.add_argument("--steps", type=int, default=budget.pick(default=1500, full=3000))
    p.add_argument("--device", default="cpu", help="cpu (the stored runs) or cuda")
    p.add_argument("--out", default="domain_digits")
    args = p.parse_args()
    device = metalib.get_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)   # small MLPs: one thread is fastest and leaves the other core free
    data = digit_domains().to(device)
    runs, start = [], time.perf_counter()
    seeds = list(range(args.seeds))
    for seed in seeds:
        runs.append(run(data, None, 0.0, seed, args.steps))
        runs.append(run(data, "augmentation", 0.0, seed, args.steps))
        runs.append(run(data, None, 0.0, seed, args.steps, oracle=True) | {"method": "oracle"})
        for name in args.methods:
            for weight in WEIGHTS[name]:
                runs.append(run(data, name, weight, seed, args.steps))
                r = runs[-1]
                print(f"seed {seed} {name:>12} w={weight:<6g} target {r['target']:.3f} "
                      f"IM {r['IM']:.3f} source {r['source']:.3f} ({r['seconds']:.1f} s)", flush=True)
    results = {"steps": args.steps, "seeds": seeds, "weights": {m: list(WEIGHTS[m]) for m in args.methods},
               "runs": runs, "summary": summarise(runs, args.methods, seeds),
               "seconds": time.perf_counter() - start}
    command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    path = save_results(args.out, results, device, command=f"METALIB_BUDGET={budget.name()} {command}")
    s = results["summary"]
    print(f"source only {s['source only']:.3f}, augmentation only {s['augmentation only']:.3f}, "
          f"oracle {s['oracle']:.3f}; Spearman with target accuracy: "
          + ", ".join(f"{v} {c:.2f}" for v, c in s["spearman"].items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
