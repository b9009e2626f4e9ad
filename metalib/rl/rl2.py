"""RL²: a recurrent policy that learns a new task inside its own memory, across episodes.

Duan et al. (2016, "RL²: Fast Reinforcement Learning via Slow Reinforcement Learning",
arXiv:1611.02779) and Wang et al. (2016, "Learning to reinforcement learn") make adaptation a
forward pass. A recurrent network reads, at every step, the state, its previous action, the reward
that action earned and whether a new episode begins. Its hidden state is *not* reset between the
episodes of one task (a *trial*), so what it learned about the goal in the first episode can steer
the second. Meta-training is ordinary policy-gradient RL on the return of whole trials, over many
tasks: the outer loop is "slow" RL, the recurrent dynamics it finds are the "fast" one. It is the
in-context learner of chapter 5 with episodes in place of labelled examples.

:class:`RecurrentPolicy` is a GRU with a Gaussian head; :func:`play_trials` runs ``T x N`` trials of
``E`` episodes on the navigation tasks, all at once (the loop runs over time only);
:func:`trial_loss` is an actor-critic loss on the trial's return (the critic a second head of the
same network, advantages by generalised advantage estimation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .maml_rl import returns_to_go
from .navigation import HORIZON, MAX_MOVE, Navigation2D, Trajectories


# A step changes the reward by at most 0.14 (a move of 0.1 in each coordinate): scaled up, so the
# differences the policy must read are of order 1.
REWARD_SCALE = 10.0


class RecurrentPolicy(nn.Module):
    """``π(a_t | h_t) = N(W h_t + b, diag(exp(log_std))²)`` with ``h_t = GRU(h_{t-1}, [s_t, a_{t-1}, r_{t-1}, d_t])``.

    ``d_t`` is 1 at the first step of each episode. Inputs and hidden state keep any leading shape.
    """

    def __init__(self, state_dim: int = 2, action_dim: int = 2, hidden: int = 64, log_std: float = 0.0) -> None:
        super().__init__()
        self.cell = nn.GRUCell(state_dim + action_dim + 2, hidden)
        self.mean = nn.Linear(hidden, action_dim)
        self.value = nn.Linear(hidden, 1)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std)))
        self.hidden, self.action_dim = hidden, action_dim

    def initial(self, *shape: int) -> torch.Tensor:
        return torch.zeros(*shape, self.hidden)

    def forward(self, h: torch.Tensor, state: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
                first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: the new hidden state, the action's mean and the value (the return still to come
        of the trial, as the critic predicts it), for inputs ``[..., D]``."""
        x = torch.cat([state, prev_action.clamp(-1, 1), REWARD_SCALE * prev_reward[..., None],
                       first[..., None].to(state.dtype)], -1)
        h = self.cell(x.flatten(0, -2), h.flatten(0, -2)).view(*h.shape)
        return h, self.mean(h), self.value(h)[..., 0]


@dataclass
class Trial:
    """``T x N`` trials of ``E`` episodes of ``H`` steps, as one run of ``E·H`` steps, and the log-probabilities
    of its actions (with their graph)."""

    run: Trajectories          # states, actions, rewards, live: [T, N, E*H, ...]
    log_probs: torch.Tensor    # [T, N, E*H]
    values: torch.Tensor       # [T, N, E*H]
    episodes: int

    def episode_returns(self) -> torch.Tensor:
        """``[T, N, E]``: the undiscounted return of each episode of each trial."""
        T, N, _ = self.run.rewards.shape
        return self.run.rewards.view(T, N, self.episodes, -1).sum(-1)


def play_trials(policy: RecurrentPolicy, goals: torch.Tensor, trajectories: int, episodes: int = 2,
                generator: torch.Generator | None = None, horizon: int = HORIZON, greedy: bool = False) -> Trial:
    """Run ``N`` trials of ``E`` episodes on each goal; the hidden state is carried from one episode to the next.

    The policy acts in [-1, 1] (moves scaled by 0.1, as for the MLP policy). Keeps the graph of the
    log-probabilities unless called under ``torch.no_grad()``. ``greedy`` plays the mean action.
    """
    if episodes < 1:
        raise ValueError(f"a trial needs at least one episode, got episodes={episodes}")
    T, N = goals.shape[0], trajectories
    h = policy.initial(T, N)
    prev_action, prev_reward = torch.zeros(T, N, policy.action_dim), torch.zeros(T, N)
    spread = policy.log_std.exp()
    seen, chosen, rewards, live, log_probs, values = [], [], [], [], [], []
    for _ in range(episodes):
        env = Navigation2D(goals, N)
        states = env.reset()
        for t in range(horizon):
            first = torch.full((T, N), t == 0)
            h, mean, value = policy(h, states, prev_action, prev_reward, first)
            values.append(value)
            noise = torch.randn(mean.shape, generator=generator)
            action = mean.detach() if greedy else (mean + spread * noise).detach()
            z = (action - mean) / spread
            log_probs.append((-0.5 * z ** 2 - policy.log_std - 0.5 * math.log(2 * math.pi)).sum(-1))
            seen.append(states)
            chosen.append(action)
            live.append(env.alive)
            states, reward, _ = env.step(MAX_MOVE * action)
            rewards.append(reward)
            prev_action, prev_reward = action, reward
    run = Trajectories(torch.stack(seen, 2), torch.stack(chosen, 2), torch.stack(rewards, 2), torch.stack(live, 2))
    return Trial(run, torch.stack(log_probs, 2), torch.stack(values, 2), episodes)


def gae(rewards: torch.Tensor, values: torch.Tensor, live: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Generalised advantage estimates (Schulman et al., 2016): ``A_t = sum_k (gamma lam)^k delta_{t+k}``
    with ``delta_t = r_t + gamma V_{t+1} - V_t`` (``V`` after the last step is 0; ended steps count 0)."""
    values = values * live
    following = torch.cat([values[..., 1:], torch.zeros_like(values[..., :1])], -1)
    deltas = (rewards + gamma * following - values) * live
    return returns_to_go(deltas, gamma * lam)


def trial_loss(trial: Trial, gamma: float = 0.99, lam: float = 0.95, value_weight: float = 0.5) -> torch.Tensor:
    """Actor-critic loss on whole trials: ``-mean(log π · A) + value_weight · mean((V - G)²)``.

    ``A`` are generalised advantage estimates from the critic's values (held fixed), scaled to unit
    spread; ``G`` the discounted returns-to-go, which the critic predicts in units of their root mean
    square over the batch. Both run across the episode boundary: an action in
    the first episode is credited with what it taught the policy for the second.
    """
    live = trial.run.live.to(trial.values.dtype)
    rewards = trial.run.rewards
    target = returns_to_go(rewards, gamma)
    count = live.sum().clamp_min(1)
    scale = ((target ** 2 * live).sum() / count).sqrt().clamp_min(1e-8)   # the critic predicts G / scale
    adv = gae(rewards, scale * trial.values.detach(), live, gamma, lam)
    adv = (adv - (adv * live).sum() / count) * live
    adv = adv / ((adv ** 2).sum() / count).sqrt().clamp_min(1e-8)
    policy = -(trial.log_probs * adv).sum() / count
    value = ((trial.values - target / scale) ** 2 * live).sum() / count
    return policy + value_weight * value
