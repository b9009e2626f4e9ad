"""Meta-reinforcement learning on 2-D navigation: MAML against a pretrained policy and a random one.

What it measures
    Finn, Abbeel & Levine's (2017, section 5.3) point-navigation tasks (metalib.rl.navigation): a goal
    uniform in [-0.5, 0.5]^2, moves clipped to +-0.1, reward minus the distance, 100 steps. Three
    starting policies, each a Gaussian MLP (two hidden layers of 100 ReLUs):

    - ``maml``: meta-trained with one policy-gradient inner step (step size 0.5, 20 tasks x 20
      episodes per meta-batch), second order through the inner step, Adam for the outer step
      (learning rate 3e-4; at 1e-3 one of two seeds improved for about 120 iterations and then
      fell apart; the paper used TRPO, whose trust region prevents that);
    - ``pretrained``: one policy trained on every task's episodes with the same surrogate and
      optimiser, no inner step (the multi-task baseline);
    - ``random``: the initialisation.

    The policy acts in [-1, 1], scaled to moves of at most 0.1 (rllab's ``normalize``, as in Finn et
    al.'s code). Each is evaluated on 40 goals none was trained on, with 40 episodes per goal: the
    mean return after 0, 1, 2 and 3 policy-gradient steps, each on the episodes just played, of sizes
    0.5, 0.25, 0.25 (the sizes of Finn et al.'s evaluation script, which took its steps on 4,000
    time steps, that is 40 episodes).

How to run it
    python experiments/maml_rl_navigation.py --out maml_rl_navigation_cpu                    # default budget
    METALIB_BUDGET=full python experiments/maml_rl_navigation.py --out maml_rl_navigation_full

    Results go to ``results/<--out>.json`` through :func:`metalib.results.save_results`.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch

from metalib import budget
from metalib.evaluation import mean_ci95
from metalib.results import save_results
from metalib.rl import GaussianPolicy, meta_loss, sample_goals
from metalib.rl.maml_rl import pretrain_loss, returns_by_step

METHODS = ("maml", "pretrained", "random")
INNER_LR = 0.5
TEST_STEP_SIZES = (0.5, 0.25, 0.25)
OUTER_LR = 3e-4
TASKS, EPISODES, TEST_TASKS, TEST_EPISODES, TEST_SEED = 20, 20, 40, 40, 123


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--iterations", type=int, default=budget.pick(default=200, full=1000))
    p.add_argument("--seeds", type=int, default=budget.pick(default=2, full=5))
    p.add_argument("--steps", type=int, default=len(TEST_STEP_SIZES), choices=range(len(TEST_STEP_SIZES) + 1),
                   help="adaptation steps at test time")
    p.add_argument("--test-episodes", type=int, default=TEST_EPISODES)
    p.add_argument("--outer-lr", type=float, default=OUTER_LR, help="Adam's learning rate (maml, pretrained)")
    p.add_argument("--tasks", type=int, default=TASKS)
    p.add_argument("--episodes", type=int, default=EPISODES)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="maml_rl_navigation")
    return p.parse_args()


def train(method: str, iterations: int, seed: int, tasks: int, episodes: int, outer_lr: float = OUTER_LR
          ) -> tuple[GaussianPolicy, list, float]:
    """A starting policy for ``method``; its training curve (mean return per iteration) and seconds per iteration."""
    torch.manual_seed(seed)
    policy = GaussianPolicy()
    if method == "random":
        return policy, [], 0.0
    optimiser = torch.optim.Adam(policy.parameters(), outer_lr)
    generator = torch.Generator().manual_seed(seed)
    curve, start = [], time.perf_counter()
    for _ in range(iterations):
        goals = sample_goals(tasks, generator)
        if method == "maml":
            loss, _, after = meta_loss(policy, goals, episodes, INNER_LR, generator)
        else:
            loss, after = pretrain_loss(policy, goals, episodes, generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        curve.append(float(after))
    return policy, curve, (time.perf_counter() - start) / max(iterations, 1)


def main() -> None:
    args = parse_args()
    command = (f"METALIB_BUDGET={budget.name()} python experiments/maml_rl_navigation.py "
               f"{shlex.join(sys.argv[1:])}").strip()
    goals = sample_goals(TEST_TASKS, torch.Generator().manual_seed(TEST_SEED))
    results = {"iterations": args.iterations, "seeds": list(range(args.seeds)), "inner_lr": INNER_LR,
               "test_step_sizes": list(TEST_STEP_SIZES[:args.steps]), "test_episodes": args.test_episodes,
               "outer": f"Adam, learning rate {args.outer_lr}", "tasks_per_iteration": args.tasks,
               "episodes_per_task": args.episodes, "test_tasks": TEST_TASKS, "budget": budget.name(),
               "methods": {}}
    for method in args.methods:
        runs = []
        for seed in range(args.seeds):
            policy, curve, seconds = train(method, args.iterations, seed, args.tasks, args.episodes, args.outer_lr)
            by_step = returns_by_step(policy, goals, args.test_episodes, TEST_STEP_SIZES[:args.steps],
                                      torch.Generator().manual_seed(1000 + seed))
            runs.append({"seed": seed, "seconds_per_iteration": seconds, "training_returns": curve,
                         "returns_by_step": by_step.mean(1).tolist()})
            print(f"{method} seed {seed}: " + " ".join(f"{r:.1f}" for r in runs[-1]["returns_by_step"]), flush=True)
        per_step = torch.tensor([r["returns_by_step"] for r in runs])
        results["methods"][method] = {"runs": runs, "by_step": [vars(mean_ci95(per_step[:, k]))
                                                                for k in range(args.steps + 1)]}
    save_results(args.out, results, args.device, command=command)


if __name__ == "__main__":
    main()
