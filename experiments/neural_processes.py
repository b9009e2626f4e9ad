"""Chapter 5's neural processes on GP-drawn curves: test log-likelihood against the prior and the exact GP posterior.

What it measures
    A Conditional Neural Process on functions from a GP with the RBF kernel and one with the
    periodic kernel, and a latent Neural Process on the RBF functions (:mod:`metalib.model_based`,
    :mod:`metalib.data.gp`). Each is trained for ``--iterations`` steps of 16 functions, with 3 to
    19 context points and 40 targets per function, by Adam with learning rate 1e-3. Then, on 500
    held-out functions per number of context points (1, 3, 5, 10, 20, 40), the mean log-likelihood per
    target point of: the model, the GP prior (no context) and the GP posterior given the context (the
    oracle, the best any learner can do with these functions). The latent NP's is the Monte Carlo
    estimate ``log (1/S) Σ_s Π_t p(y_t | x_t, z_s)`` with ``S = 32`` latents from the context, per
    target point.

How to run it
    python experiments/neural_processes.py --device cpu --out neural_processes_cpu   # about 8 minutes

    Results go to ``results/<--out>.json`` through :func:`metalib.results.save_results`.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch

from metalib import budget
from metalib.data.gp import gaussian_log_likelihood, gp_posterior, sample_gp_tasks
from metalib.model_based import ConditionalNeuralProcess, LatentNeuralProcess
from metalib.results import save_results

CONTEXTS = (1, 3, 5, 10, 20, 40)
TARGETS, TASKS, LR, TEST_TASKS, LATENT_SAMPLES = 40, 16, 1e-3, 500, 32
RUNS = {"cnp_rbf": ("cnp", "rbf"), "cnp_periodic": ("cnp", "periodic"), "np_rbf": ("np", "rbf")}


def model_log_likelihood(kind, model, tasks) -> float:
    with torch.no_grad():
        if kind == "cnp":
            return model.log_likelihood(tasks.x_context, tasks.y_context, tasks.x_target, tasks.y_target).item()
        joint = model(tasks.x_context, tasks.y_context, tasks.x_target, samples=LATENT_SAMPLES
                      ).log_prob(tasks.y_target).sum((-1, -2))                     # [S, B]
        per_task = torch.logsumexp(joint, 0) - math.log(LATENT_SAMPLES)
        return (per_task / tasks.x_target.shape[1]).mean().item()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    p.add_argument("--iterations", type=int, default=budget.pick(default=10_000, full=100_000))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neural_processes")
    args = p.parse_args()
    device = metalib.get_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    command = f"METALIB_BUDGET={budget.name()} python experiments/neural_processes.py {shlex.join(sys.argv[1:])}".strip()
    results = {"protocol": {"iterations": args.iterations, "tasks_per_step": TASKS, "targets": TARGETS,
                            "train_context": "uniform 3..19", "optimizer": f"Adam lr {LR}", "hidden": args.hidden,
                            "test_tasks": TEST_TASKS, "noise": 0.1, "kernels": {"rbf": "length 0.4",
                                                                                 "periodic": "length 0.4, period 1"},
                            "latent_samples": LATENT_SAMPLES, "budget": budget.name()}, "runs": {}}
    for name in args.runs:
        kind, kernel = RUNS[name]
        metalib.seed_everything(args.seed)
        model = (ConditionalNeuralProcess(hidden=args.hidden, representation=args.hidden) if kind == "cnp"
                 else LatentNeuralProcess(hidden=args.hidden, latent=args.hidden // 2)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        g = torch.Generator().manual_seed(args.seed + 1)

        def step(i):
            c = int(torch.randint(3, 20, (1,), generator=g))
            t = sample_gp_tasks(TASKS, c, TARGETS, kernel=kernel, generator=g)
            t = [v.to(device) for v in (t.x_context, t.y_context, t.x_target, t.y_target)]
            loss = -(model.log_likelihood(*t) if kind == "cnp" else model.elbo(*t))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach()

        start = time.perf_counter()
        losses = metalib.train(step, args.iterations, desc=name)
        train_s = time.perf_counter() - start
        model.eval()
        by_context = {}
        for c in CONTEXTS:
            tasks = sample_gp_tasks(TEST_TASKS, c, TARGETS, kernel=kernel,
                                    generator=torch.Generator().manual_seed(1000 + c))
            mean, var = gp_posterior(tasks.x_context, tasks.y_context, tasks.x_target, kernel=kernel)
            prior_mean, prior_var = gp_posterior(tasks.x_context[:, :0], tasks.y_context[:, :0], tasks.x_target,
                                                 kernel=kernel)
            by_context[str(c)] = {
                "model": model_log_likelihood(kind, model, tasks),
                "oracle": gaussian_log_likelihood(tasks.y_target.double(), mean, var).item(),
                "prior": gaussian_log_likelihood(tasks.y_target.double(), prior_mean, prior_var).item()}
        results["runs"][name] = {"kind": kind, "kernel": kernel, "train_s": train_s,
                                 "train_loss_last500": float(sum(losses[-500:]) / len(losses[-500:])),
                                 "log_likelihood_by_context": by_context}
        save_results(args.out, results, device, command=command)
        print(name, {c: round(v["model"], 3) for c, v in by_context.items()}, f"({train_s:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
