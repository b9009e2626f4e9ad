"""Meta-reinforcement learning on 2-D navigation: MAML against a pretrained policy and a random one.

What it measures
    Finn, Abbeel & Levine's (2017, section 5.3) point-navigation tasks (metalib.rl.navigation): a goal
    uniform in [-0.5, 0.5]^2, moves clipped to +-0.1, reward minus the distance, 100 steps. Three
    starting policies, each a Gaussian MLP (two hidden layers of 100 ReLUs):

    - ``maml``: meta-trained with one policy-gradient inner step (step size 0.5, 20 tasks x 20
      episodes per meta-batch), second order through the inner step. The outer step is Adam's
      (learning rate 3e-4) inside a trust region: the step is halved until the adapted policies
      move by a mean KL divergence of at most ``--max-kl`` (0.01, TRPO's bound in Finn et al.'s
      code; :func:`metalib.rl.maml_rl.trust_region_step`). ``--max-kl 0`` gives plain Adam, which
      improved for about 500 iterations and then declined (seed 0: the return after adapting
      went from about -14 to -30 by iteration 800);
    - ``pretrained``: one policy trained on every task's episodes with the same surrogate,
      optimiser and trust region, no inner step (the multi-task baseline);
    - ``random``: the initialisation.

    Every 50 iterations (and at the last) each trained policy is scored on 20 validation goals, drawn
    apart from the test goals: the mean return after one adaptation step. The parameters with the
    best score are the ones tested (early stopping). This matters at the full budget: with this
    meta-gradient, MAML's return before adapting starts to fall after about 500 iterations, trust
    region or not, and the return after adapting follows it.

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
import copy
import shlex
import sys
import time

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch

from metalib import budget
from metalib.evaluation import mean_ci95
from metalib.results import save_results
from metalib.rl import GaussianPolicy, sample_goals
from metalib.rl.maml_rl import adapted_kl, meta_batch, pretrain_batch, returns_by_step, trust_region_step

METHODS = ("maml", "pretrained", "random")
INNER_LR = 0.5
TEST_STEP_SIZES = (0.5, 0.25, 0.25)
OUTER_LR = 3e-4
MAX_KL = 0.01
VALIDATE_EVERY, VALIDATION_TASKS, VALIDATION_EPISODES, VALIDATION_SEED = 50, 20, 20, 321
TASKS, EPISODES, TEST_TASKS, TEST_EPISODES, TEST_SEED = 20, 20, 40, 40, 123


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--iterations", type=int, default=budget.pick(default=200, full=1000))
    p.add_argument("--seeds", type=int, default=budget.pick(default=2, full=3))
    p.add_argument("--steps", type=int, default=len(TEST_STEP_SIZES), choices=range(len(TEST_STEP_SIZES) + 1),
                   help="adaptation steps at test time")
    p.add_argument("--test-episodes", type=int, default=TEST_EPISODES)
    p.add_argument("--outer-lr", type=float, default=OUTER_LR, help="Adam's learning rate (maml, pretrained)")
    p.add_argument("--max-kl", type=float, default=MAX_KL,
                   help="trust region: halve Adam's step until the adapted policies move by at most this "
                        "mean KL divergence (0 or less: plain Adam)")
    p.add_argument("--tasks", type=int, default=TASKS)
    p.add_argument("--episodes", type=int, default=EPISODES)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="maml_rl_navigation")
    return p.parse_args()


def train(method: str, iterations: int, seed: int, tasks: int, episodes: int, outer_lr: float = OUTER_LR,
          max_kl: float | None = MAX_KL, validate_every: int = VALIDATE_EVERY) -> tuple[GaussianPolicy, dict, float]:
    """A starting policy for ``method``, and its training record: per iteration the mean return (for
    MAML after adapting and before), the meta-gradient's norm and the fraction of Adam's step the
    trust region kept; every ``validate_every`` iterations the validation score (:func:`validate`);
    the iteration whose parameters are returned (the best validated); seconds per iteration."""
    torch.manual_seed(seed)
    policy = GaussianPolicy()
    record = {"training_returns": [], "training_returns_before": [], "gradient_norms": [], "step_kept": [],
              "validation": [], "chosen_iteration": 0}
    if method == "random":
        return policy, record, 0.0
    optimiser = torch.optim.Adam(policy.parameters(), outer_lr)
    generator = torch.Generator().manual_seed(seed)
    best, seconds = (float("-inf"), None), 0.0
    for iteration in range(1, iterations + 1):
        start = time.perf_counter()
        goals = sample_goals(tasks, generator)
        if method == "maml":
            batch = meta_batch(policy, goals, episodes, INNER_LR, generator)
            record["training_returns_before"].append(float(batch.before_return))
        else:
            batch = pretrain_batch(policy, goals, episodes, generator)
        optimiser.zero_grad()
        batch.loss.backward()
        record["gradient_norms"].append(float(torch.nn.utils.clip_grad_norm_(policy.parameters(), float("inf"))))
        if max_kl is None:
            optimiser.step()
        else:
            record["step_kept"].append(
                trust_region_step(optimiser, lambda: adapted_kl(policy, batch, INNER_LR), max_kl))
        record["training_returns"].append(float(batch.after_return))
        seconds += time.perf_counter() - start
        if iteration % validate_every == 0 or iteration == iterations:
            score = validate(policy, seed)
            record["validation"].append([iteration, score])
            if score > best[0]:
                best = (score, copy.deepcopy(policy.state_dict()))
                record["chosen_iteration"] = iteration
    policy.load_state_dict(best[1])
    return policy, record, seconds / max(iterations, 1)


def validate(policy: GaussianPolicy, seed: int) -> float:
    """The mean return after one adaptation step (size 0.5) on 20 validation goals, 20 episodes each:
    goals drawn apart from the training and test goals, used only to choose which iteration to keep."""
    goals = sample_goals(VALIDATION_TASKS, torch.Generator().manual_seed(VALIDATION_SEED))
    by_step = returns_by_step(policy, goals, VALIDATION_EPISODES, TEST_STEP_SIZES[:1],
                              torch.Generator().manual_seed(2000 + seed))
    return float(by_step[1].mean())


def main() -> None:
    args = parse_args()
    command = (f"METALIB_BUDGET={budget.name()} python experiments/maml_rl_navigation.py "
               f"{shlex.join(sys.argv[1:])}").strip()
    goals = sample_goals(TEST_TASKS, torch.Generator().manual_seed(TEST_SEED))
    max_kl = args.max_kl if args.max_kl > 0 else None
    results = {"iterations": args.iterations, "seeds": list(range(args.seeds)), "inner_lr": INNER_LR,
               "test_step_sizes": list(TEST_STEP_SIZES[:args.steps]), "test_episodes": args.test_episodes,
               "outer": f"Adam, learning rate {args.outer_lr}", "max_kl": max_kl, "tasks_per_iteration": args.tasks,
               "episodes_per_task": args.episodes, "test_tasks": TEST_TASKS, "budget": budget.name(),
               "methods": {}}
    for method in args.methods:
        runs = []
        for seed in range(args.seeds):
            policy, curves, seconds = train(method, args.iterations, seed, args.tasks, args.episodes, args.outer_lr,
                                            max_kl)
            by_step = returns_by_step(policy, goals, args.test_episodes, TEST_STEP_SIZES[:args.steps],
                                      torch.Generator().manual_seed(1000 + seed))
            runs.append({"seed": seed, "seconds_per_iteration": seconds, **curves,
                         "returns_by_step": by_step.mean(1).tolist()})
            print(f"{method} seed {seed} (kept iteration {curves['chosen_iteration']}): "
                  + " ".join(f"{r:.1f}" for r in runs[-1]["returns_by_step"]), flush=True)
        per_step = torch.tensor([r["returns_by_step"] for r in runs])
        results["methods"][method] = {"runs": runs, "by_step": [vars(mean_ci95(per_step[:, k]))
                                                                for k in range(args.steps + 1)]}
    save_results(args.out, results, args.device, command=command)


if __name__ == "__main__":
    main()
