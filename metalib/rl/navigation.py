r"""2-D navigation, the meta-reinforcement-learning benchmark of Finn, Abbeel & Levine (2017, §5.3).

A point starts at the origin of the plane. A task is a goal :math:`g` drawn uniformly from
:math:`[-0.5, 0.5]^2`. At each step the agent chooses a move :math:`a_t`, clipped to
:math:`[-0.1, 0.1]` in each coordinate, and

.. math::  s_{t+1} = s_t + \mathrm{clip}(a_t), \qquad r_t = -\lVert s_{t+1} - g \rVert_2 .

An episode lasts at most :data:`HORIZON` = 100 steps and ends early once the point is within
:data:`DONE_DISTANCE` = 0.01 of the goal in both coordinates. These are the dynamics of rllab's
point environment, which the paper used, and of learn2learn's ``Particles2DEnv``;
``tests/test_rl_navigation.py`` steps the two side by side on the same actions.

:class:`Navigation2D` steps ``T`` tasks times ``N`` trajectories at once: states are ``[T, N, 2]``,
and one step is a handful of tensor operations whatever ``T`` and ``N`` are. A trajectory that has
ended stays where it is and earns reward 0, so that returns are sums over a fixed-length tensor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

HORIZON = 100
"""Steps per episode (Finn et al., 2017)."""
MAX_MOVE = 0.1
"""Each coordinate of an action is clipped to ``[-MAX_MOVE, MAX_MOVE]``."""
GOAL_RANGE = 0.5
"""Goals are uniform on ``[-GOAL_RANGE, GOAL_RANGE]^2``."""
DONE_DISTANCE = 0.01
"""An episode ends when both coordinates are within this distance of the goal."""


def sample_goals(tasks: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """``[tasks, 2]`` goals, uniform on ``[-0.5, 0.5]^2``."""
    if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
        raise ValueError(f"tasks must be a positive whole number, got {tasks!r}")
    return (torch.rand(tasks, 2, generator=generator, device=device) - 0.5) * (2 * GOAL_RANGE)


class Navigation2D:
    """``T`` navigation tasks (one goal each) with ``N`` trajectories per task, stepped together.

    Args:
        goals: ``[T, 2]``, one goal per task (:func:`sample_goals`).
        trajectories: ``N``, how many episodes of each task run side by side.

    Example:
        >>> env = Navigation2D(torch.tensor([[0.3, -0.2]]), trajectories=4)
        >>> states = env.reset()                                  # [1, 4, 2], all at the origin
        >>> states, rewards, done = env.step(torch.full((1, 4, 2), 0.5))   # moves of 0.1, clipped
        >>> states[0, 0].tolist(), round(float(rewards[0, 0]), 4)
        ([0.10000000149011612, 0.10000000149011612], -0.3606)
    """

    def __init__(self, goals: torch.Tensor, trajectories: int) -> None:
        if not isinstance(goals, torch.Tensor) or goals.dim() != 2 or goals.shape[1] != 2:
            raise ValueError(f"goals must be a tensor [T, 2], one goal per task, got "
                             f"{getattr(goals, 'shape', type(goals).__name__)}; draw them with sample_goals(T)")
        if not bool(torch.isfinite(goals).all()):
            raise ValueError("goals hold NaN or infinite values; draw them with sample_goals(T)")
        if isinstance(trajectories, bool) or not isinstance(trajectories, int) or trajectories < 1:
            raise ValueError(f"trajectories must be a positive whole number, got {trajectories!r}")
        self.goals = goals
        self.shape = (goals.shape[0], trajectories)
        self.reset()

    def reset(self) -> torch.Tensor:
        """Every trajectory back at the origin, none ended; returns the states ``[T, N, 2]``."""
        self.states = torch.zeros(*self.shape, 2, dtype=self.goals.dtype, device=self.goals.device)
        self.alive = torch.ones(self.shape, dtype=torch.bool, device=self.goals.device)
        return self.states

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Move every live trajectory by its clipped action.

        Returns the new states ``[T, N, 2]``, the rewards ``[T, N]`` (0 for a trajectory that had
        already ended) and ``done`` ``[T, N]`` (ended now or before).
        """
        if actions.shape != (*self.shape, 2):
            raise ValueError(f"actions must be [T, N, 2] = {[*self.shape, 2]}, one move per trajectory, "
                             f"got {list(actions.shape)}")
        if not bool(torch.isfinite(actions).all()):
            raise ValueError("actions hold NaN or infinite values; check the policy's outputs (a NaN in its "
                             "parameters, or a standard deviation of 0)")
        alive = self.alive.unsqueeze(-1)
        move = actions.to(self.states.dtype).clamp(-MAX_MOVE, MAX_MOVE)
        self.states = torch.where(alive, self.states + move, self.states)
        offset = self.states - self.goals[:, None, :]
        rewards = torch.where(self.alive, -offset.norm(dim=-1), torch.zeros_like(offset[..., 0]))
        self.alive = self.alive & ~(offset.abs() < DONE_DISTANCE).all(-1)
        return self.states, rewards, ~self.alive


@dataclass
class Trajectories:
    """``T x N`` episodes of ``H`` steps: what a policy-gradient method needs of them.

    ``states`` are those the actions were chosen in (before each step); ``live`` marks the steps
    taken before the episode ended (rewards are 0 after it).
    """

    states: torch.Tensor     # [T, N, H, 2]
    actions: torch.Tensor    # [T, N, H, 2], as the policy chose them (before clipping)
    rewards: torch.Tensor    # [T, N, H]
    live: torch.Tensor       # [T, N, H], bool

    def returns(self) -> torch.Tensor:
        """``[T, N]``: the undiscounted return of each episode."""
        return self.rewards.sum(-1)


def rollout(act: Callable[[torch.Tensor], torch.Tensor], goals: torch.Tensor, trajectories: int,
            horizon: int = HORIZON, scale: float = 1.0) -> Trajectories:
    """Run ``act`` (states ``[T, N, 2]`` -> actions ``[T, N, 2]``) for ``horizon`` steps on every task.

    The loop runs over time only: each step moves all ``T x N`` trajectories at once. ``act`` draws
    its own noise (a stochastic policy) and may keep a graph; the trajectories are returned as they
    were played. The environment moves by ``scale`` times each action (then clips): with ``scale =
    MAX_MOVE`` a policy acts in ``[-1, 1]``, as under rllab's ``normalize`` wrapper, which Finn et
    al.'s code put around this environment.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive whole number, got {horizon!r}")
    env = Navigation2D(goals, trajectories)
    states = env.reset()
    seen, chosen, rewards, live = [], [], [], []
    for _ in range(horizon):
        actions = act(states)
        seen.append(states)
        chosen.append(actions)
        live.append(env.alive)
        states, reward, _ = env.step(scale * actions)
        rewards.append(reward)
    return Trajectories(torch.stack(seen, 2), torch.stack(chosen, 2), torch.stack(rewards, 2), torch.stack(live, 2))
