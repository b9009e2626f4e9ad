"""MAML-RL on half-cheetah direction (forward or backward), in gymnasium's MuJoCo HalfCheetah-v5.

What it measures
    Finn, Abbeel & Levine's (2017, section 5.3) locomotion tasks: a task is a direction d = +1 or -1
    drawn with equal odds, and the reward is d times the forward velocity minus a control cost,
    over 200 steps. Policies are Gaussian MLPs (two hidden layers of 100 ReLUs; 17 observations,
    6 actions in [-1, 1]) from metalib.rl.maml_rl:

    - ``maml``: one policy-gradient inner step (size ``--inner-lr``, 0.1 as in the paper) on
      ``--episodes`` episodes per task, second order, Adam outer step inside the KL trust region
      of experiments/maml_rl_navigation.py;
    - ``pretrained``: one policy trained on every task's episodes, same optimiser, no inner step.

    Test: 2 tasks per direction, ``--test-episodes`` episodes each, the mean return before and
    after one step (size 0.1). ``curves`` holds the training returns before and after adapting.

    Differences from the paper's environment (rllab's HalfCheetah on MuJoCo 1.31): gymnasium v5 on
    MuJoCo 3 has another observation (17 numbers, no x position), a control cost of
    0.1 |a|^2 instead of 0.05 |a|^2, and a frame skip of 5. The paper reports, for direction,
    MAML -50.7 before and 293.2 after one step, an oracle 442.7; our numbers are not on the same
    scale and the script makes no claim to match them.

    This is hours on a CPU (about 5 s per iteration with 10 tasks x 10 episodes on one core).

How to run it
    python experiments/maml_rl_halfcheetah.py --out maml_rl_halfcheetah_smoke          # minutes
    METALIB_BUDGET=full python experiments/maml_rl_halfcheetah.py --out maml_rl_halfcheetah_full
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
from metalib.rl.maml_rl import (GaussianPolicy, MetaBatch, Params, adapt, adapted_kl, expand, flatten,
                                surrogate_losses, trust_region_step)
from metalib.rl.navigation import Trajectories
from metalib.optimization.inner import batched_call

HORIZON, CTRL_COST = 200, 0.1


def _mujoco_warning(message: str) -> None:
    # gymnasium's half_cheetah.xml uses a compiler attribute MuJoCo 3 deprecates, once per environment;
    # every other warning goes to stderr (by default MuJoCo also writes them to MUJOCO_LOG.TXT here).
    if "settotalmass" not in message:
        print(f"MuJoCo warning: {message}", file=sys.stderr)


def make_envs(count: int):
    try:
        import gymnasium as gym
        import mujoco
    except ImportError:
        raise SystemExit("gymnasium and mujoco are missing: pip install gymnasium==1.4.0 mujoco==3.17.0 "
                         "imageio==2.38.2") from None
    mujoco.set_mju_user_warning(_mujoco_warning)
    return gym.vector.SyncVectorEnv([lambda: gym.make("HalfCheetah-v5", ctrl_cost_weight=CTRL_COST)
                                     for _ in range(count)])


def collect(envs, policy: GaussianPolicy, params: Params, directions: torch.Tensor, episodes: int,
            generator: torch.Generator, seed: int) -> Trajectories:
    """``T x N`` episodes of ``HORIZON`` steps, task ``t`` with parameters ``params[t]`` and direction
    ``directions[t]``; the envs hold ``T·N`` cheetahs, stepped together."""
    T, N = len(directions), episodes
    obs, _ = envs.reset(seed=seed)
    params = {n: p.detach() for n, p in params.items()}
    spread = params["log_std"].exp()[:, None, :]
    seen, chosen, rewards = [], [], []
    for _ in range(HORIZON):
        states = torch.as_tensor(obs, dtype=torch.float32).view(T, N, -1)
        with torch.no_grad():
            mean = batched_call(policy, params, states)
            actions = mean + spread * torch.randn(mean.shape, generator=generator)
        obs, _, _, _, info = envs.step(actions.clamp(-1, 1).flatten(0, 1).numpy())
        velocity = torch.as_tensor(info["x_velocity"], dtype=torch.float32).view(T, N)
        ctrl = torch.as_tensor(info["reward_ctrl"], dtype=torch.float32).view(T, N)
        seen.append(states)
        chosen.append(actions)
        rewards.append(directions[:, None] * velocity + ctrl)
    live = torch.ones(T, N, HORIZON, dtype=torch.bool)
    return Trajectories(torch.stack(seen, 2), torch.stack(chosen, 2), torch.stack(rewards, 2), live)


def batch(envs, policy: GaussianPolicy, directions: torch.Tensor, episodes: int, inner_lr: float | None,
          generator: torch.Generator, seed: int) -> MetaBatch:
    """MAML's meta-batch (``inner_lr`` given) or the pretrained policy's (``None``), as in metalib.rl.maml_rl."""
    shared = expand(policy, len(directions))
    before = collect(envs, policy, shared, directions, episodes, generator, seed)
    data = flatten(before)
    if inner_lr is None:
        ret = before.returns().mean()
        return MetaBatch(surrogate_losses(policy, shared, data).mean(), ret, ret, None,
                         {n: p.detach().clone() for n, p in shared.items()}, data[0])
    adapted = adapt(policy, shared, data, inner_lr)
    after = collect(envs, policy, adapted, directions, episodes, generator, seed + 1)
    after_data = flatten(after)
    return MetaBatch(surrogate_losses(policy, adapted, after_data).mean(), before.returns().mean(),
                     after.returns().mean(), data, {n: p.detach() for n, p in adapted.items()}, after_data[0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["maml", "pretrained"], choices=["maml", "pretrained"])
    parser.add_argument("--iterations", type=int, default=budget.pick(default=3, full=500))
    parser.add_argument("--tasks", type=int, default=budget.pick(default=2, full=10))
    parser.add_argument("--episodes", type=int, default=budget.pick(default=2, full=10))
    parser.add_argument("--test-episodes", type=int, default=budget.pick(default=2, full=10))
    parser.add_argument("--inner-lr", type=float, default=0.1)
    parser.add_argument("--outer-lr", type=float, default=1e-3)
    parser.add_argument("--max-kl", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="results/<out>.json (not written when omitted)")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = f"METALIB_BUDGET={budget.name()} python experiments/maml_rl_halfcheetah.py {shlex.join(given)}".strip()
    envs = make_envs(args.tasks * args.episodes)
    test_envs = make_envs(4 * args.test_episodes)
    test_directions = torch.tensor([1.0, 1.0, -1.0, -1.0])
    results = {"iterations": args.iterations, "tasks_per_iteration": args.tasks, "episodes_per_task": args.episodes,
               "inner_lr": args.inner_lr, "outer": f"Adam, learning rate {args.outer_lr}", "max_kl": args.max_kl,
               "horizon": HORIZON, "environment": "gymnasium HalfCheetah-v5, ctrl_cost_weight 0.1",
               "paper": {"maml": [-50.7, 293.2], "oracle": 442.7}, "methods": {}}
    for method in args.methods:
        torch.manual_seed(args.seed)
        policy = GaussianPolicy(state_dim=17, action_dim=6)
        optimiser = torch.optim.Adam(policy.parameters(), lr=args.outer_lr)
        generator = torch.Generator().manual_seed(args.seed)
        inner = args.inner_lr if method == "maml" else None
        curves = {"before": [], "after": [], "seconds": []}
        for iteration in range(args.iterations):
            start = time.perf_counter()
            directions = torch.randint(0, 2, (args.tasks,), generator=generator).float() * 2 - 1
            mb = batch(envs, policy, directions, args.episodes, inner, generator, 10_000 * args.seed + 2 * iteration)
            optimiser.zero_grad()
            mb.loss.backward()
            trust_region_step(optimiser, lambda: adapted_kl(policy, mb, args.inner_lr), args.max_kl)
            curves["before"].append(float(mb.before_return))
            curves["after"].append(float(mb.after_return))
            curves["seconds"].append(time.perf_counter() - start)
            print(f"{method} {iteration}: before {curves['before'][-1]:.1f}, after {curves['after'][-1]:.1f}",
                  flush=True)
        test_gen = torch.Generator().manual_seed(1000 + args.seed)
        test = batch(test_envs, policy, test_directions, args.test_episodes, args.inner_lr, test_gen, 999)
        # per test task: the mean return before and after one step (the test batch adapts every method)
        results["methods"][method] = {
            "curves": curves,
            "test_before": float(test.before_return), "test_after": float(test.after_return),
            "seconds_per_iteration": vars(mean_ci95(curves["seconds"])) if len(curves["seconds"]) > 1 else None,
        }
    if args.out:
        save_results(args.out, results, "cpu", command=command)
    return results


if __name__ == "__main__":
    main()
