"""Meta-reinforcement learning on 2-D navigation with a recurrent policy (RL²).

What it measures
    The navigation tasks of experiments/maml_rl_navigation.py, met by a GRU policy
    (metalib.rl.rl2.RecurrentPolicy, 64 units) that reads its state, previous action and reward,
    and keeps its memory across the episodes of one goal. Meta-training: actor-critic on trials of
    2 episodes (20 goals x 20 trials per iteration, Adam 1e-3, gradient norm clipped at 1). Every
    100 iterations (and at the last) the policy is scored on 20 validation goals (the mean return
    of the second episode); the best iteration is the one tested. Test: the 40 goals of the MAML
    experiment (seed 123), 40 trials of 3 episodes each; the mean return of episodes 1, 2 and 3.

    Episode ``k + 1`` of a trial is the counterpart of MAML's return after ``k`` adaptation steps,
    with one difference in data: MAML's step ``k`` learns from 40 episodes, RL²'s memory from ``k``.

How to run it
    python experiments/rl2_navigation.py --out rl2_navigation_cpu                      # default budget
    METALIB_BUDGET=full python experiments/rl2_navigation.py --out rl2_navigation_full
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
from metalib.rl import sample_goals
from metalib.rl.rl2 import RecurrentPolicy, play_trials, trial_loss

TASKS, TRIALS, TRAIN_EPISODES, LR, CLIP = 20, 20, 2, 1e-3, 1.0
TEST_TASKS, TEST_TRIALS, TEST_EPISODES, TEST_SEED = 40, 40, 3, 123
VALIDATE_EVERY, VALIDATION_TASKS, VALIDATION_TRIALS, VALIDATION_SEED = 100, 20, 20, 321


def validate(policy: RecurrentPolicy, seed: int) -> float:
    goals = sample_goals(VALIDATION_TASKS, torch.Generator().manual_seed(VALIDATION_SEED))
    with torch.no_grad():
        trial = play_trials(policy, goals, VALIDATION_TRIALS, 2, torch.Generator().manual_seed(2000 + seed))
    return float(trial.episode_returns()[..., 1].mean())


def train(iterations: int, seed: int, hidden: int) -> tuple[RecurrentPolicy, dict]:
    torch.manual_seed(seed)
    policy = RecurrentPolicy(hidden=hidden)
    optimiser = torch.optim.Adam(policy.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    record = {"training_returns": [], "validation": [], "chosen_iteration": 0, "seconds_per_iteration": 0.0}
    best = (float("-inf"), copy.deepcopy(policy.state_dict()))
    start = time.perf_counter()
    for iteration in range(1, iterations + 1):
        trial = play_trials(policy, sample_goals(TASKS, generator), TRIALS, TRAIN_EPISODES, generator)
        loss = trial_loss(trial)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), CLIP)
        optimiser.step()
        record["training_returns"].append(trial.episode_returns().mean((0, 1)).tolist())
        if iteration % VALIDATE_EVERY == 0 or iteration == iterations:
            score = validate(policy, seed)
            record["validation"].append([iteration, score])
            if score > best[0]:
                best = (score, copy.deepcopy(policy.state_dict()))
                record["chosen_iteration"] = iteration
    record["seconds_per_iteration"] = (time.perf_counter() - start) / max(iterations, 1)
    policy.load_state_dict(best[1])
    return policy, record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=budget.pick(default=600, full=2000))
    parser.add_argument("--seeds", type=int, default=budget.pick(default=2, full=3))
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--test-trials", type=int, default=TEST_TRIALS)
    parser.add_argument("--out", default=None, help="results/<out>.json (not written when omitted)")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = f"METALIB_BUDGET={budget.name()} python experiments/rl2_navigation.py {shlex.join(given)}".strip()
    goals = sample_goals(TEST_TASKS, torch.Generator().manual_seed(TEST_SEED))
    results = {"iterations": args.iterations, "hidden": args.hidden, "tasks_per_iteration": TASKS,
               "trials_per_task": TRIALS, "train_episodes": TRAIN_EPISODES, "outer": f"Adam, learning rate {LR}",
               "test_tasks": TEST_TASKS, "test_trials": args.test_trials, "test_episodes": TEST_EPISODES,
               "budget": budget.name(), "runs": []}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        policy, record = train(args.iterations, seed, args.hidden)
        with torch.no_grad():
            trial = play_trials(policy, goals, args.test_trials, TEST_EPISODES,
                                torch.Generator().manual_seed(1000 + seed))
        by_episode = trial.episode_returns().mean(1)                       # [goals, episodes]
        paths = trial.run.states[:4, 0].view(4, TEST_EPISODES, -1, 2)      # one trial of 4 goals
        record.update(seed=seed, returns_by_episode=by_episode.mean(0).tolist(),
                      per_goal=by_episode.tolist(), goals=goals[:4].tolist(), paths=paths.tolist())
        results["runs"].append(record)
        print(f"seed {seed} (kept iteration {record['chosen_iteration']}): "
              + " ".join(f"{r:.1f}" for r in record["returns_by_episode"]), flush=True)
    per_seed = torch.tensor([r["returns_by_episode"] for r in results["runs"]])
    results["by_episode"] = [vars(mean_ci95(per_seed[:, k])) for k in range(TEST_EPISODES)]
    if args.out:
        save_results(args.out, results, "cpu", command=command)
    return results


if __name__ == "__main__":
    main()
