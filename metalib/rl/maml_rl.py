r"""MAML for reinforcement learning (Finn, Abbeel & Levine, 2017, section 5.3): a policy-gradient inner
step for every task at once.

The policy is Finn et al.'s: a Gaussian whose mean is an MLP of the state (two hidden layers of 100
ReLUs) and whose log standard deviation is a learned vector, :class:`GaussianPolicy`. For each of
``T`` tasks, the shared parameters :math:`θ` play ``N`` episodes :math:`D_b`, take one step of the
REINFORCE surrogate on them,

.. math::  θ'_b = θ - α ∇_θ L_b(θ),  \qquad
   L_b(θ) = -\frac{1}{|D_b|} \sum_{n, t} \log π_θ(a_{nt} \mid s_{nt})\, \hat A_{nt},

and the adapted :math:`θ'_b` play ``N`` new episodes :math:`D'_b`, on which the same surrogate is the
meta-loss :math:`\frac{1}{T}\sum_b L'_b(θ'_b)`, differentiated through the inner step
(:func:`meta_loss`). The advantages :math:`\hat A` are the returns-to-go minus their mean over the
task's episodes at the same time step, divided by their standard deviation over the task.

As in Finn et al.'s code, the meta-gradient treats the episodes as data: it does not differentiate
the probability of having drawn :math:`D'_b`, nor of :math:`D_b`, with respect to :math:`θ`
(ProMP and DiCE add those terms). Finn et al. took the outer step with TRPO, a natural-gradient step
whose length keeps the KL divergence between the old and new adapted policies below 0.01.
:func:`trust_region_step` keeps that bound around a plain optimiser's step instead (Adam's direction,
halved until :func:`adapted_kl` is small enough), which is one more difference to state beside any
result.

Everything is batched: the ``T x N`` episodes step together (:func:`~metalib.rl.navigation.rollout`),
the ``T`` policies run as one ``vmap``-ed call, and the inner step is
:func:`~metalib.optimization.inner.gradient_steps`, the one MAML uses for images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from ..backbones import MLP
from ..optimization.inner import batched_call, gradient_steps
from .navigation import HORIZON, MAX_MOVE, Trajectories, rollout

Params = dict[str, torch.Tensor]


class GaussianPolicy(nn.Module):
    """``π(a | s) = N(μ(s), diag(exp(log_std))²)``: the mean an MLP of the state, the spread learned.

    ``forward(states)`` gives the mean; the parameter ``log_std`` holds the spread.
    """

    def __init__(self, state_dim: int = 2, action_dim: int = 2, hidden: tuple[int, ...] = (100, 100),
                 log_std: float = 0.0) -> None:
        super().__init__()
        self.mean = MLP([state_dim, *hidden, action_dim], flatten_input=False)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std)))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.mean(states)


def task_log_probs(policy: GaussianPolicy, params: Params, states: torch.Tensor,
                   actions: torch.Tensor) -> torch.Tensor:
    """``[T, M]``: each task's log-probability of its actions ``[T, M, A]`` in its states ``[T, M, S]``
    under its own parameters ``{name: [T, ...]}``."""
    mean = batched_call(policy, params, states)
    log_std = params["log_std"][:, None, :]
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def returns_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """``G_t = sum_{t' >= t} gamma^(t'-t) r_t'`` along the last dimension."""
    out, running = torch.zeros_like(rewards), torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * running
        out[..., t] = running
    return out


def advantages(run: Trajectories, gamma: float = 0.99) -> torch.Tensor:
    """``[T, N, H]``: discounted returns-to-go minus their mean over each task's episodes at the same
    step, divided by the task's standard deviation (0 where the episode had ended)."""
    to_go = returns_to_go(run.rewards, gamma)
    centred = (to_go - to_go.mean(1, keepdim=True)) * run.live
    spread = centred.flatten(1).std(1).clamp_min(1e-8)
    return centred / spread[:, None, None]


def surrogate_losses(policy: GaussianPolicy, params: Params, data: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``[T]``: each task's REINFORCE surrogate on ``data = (states, actions, advantages, live)``, each
    flattened to ``[T, N·H, ...]`` (:func:`flatten`)."""
    states, actions, weights, live = data
    log_probs = task_log_probs(policy, params, states, actions)
    return -(log_probs * weights).sum(1) / live.sum(1).clamp_min(1)


def flatten(run: Trajectories, gamma: float = 0.99) -> tuple[torch.Tensor, ...]:
    """The episodes as the surrogate reads them: states, actions, advantages, live, each ``[T, N·H, ...]``."""
    return (run.states.flatten(1, 2), run.actions.flatten(1, 2), advantages(run, gamma).flatten(1, 2),
            run.live.flatten(1, 2).to(run.rewards.dtype))


def play(policy: GaussianPolicy, params: Params, goals: torch.Tensor, trajectories: int,
         generator: torch.Generator | None = None, horizon: int = HORIZON) -> Trajectories:
    """``N`` episodes of each task with its own parameters ``{name: [T, ...]}`` (no graph kept)."""
    params = {n: p.detach() for n, p in params.items()}
    spread = params["log_std"].exp()[:, None, :]

    def act(states: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            noise = torch.randn(states.shape, generator=generator, dtype=states.dtype, device=states.device)
            return batched_call(policy, params, states) + spread * noise

    return rollout(act, goals, trajectories, horizon, scale=MAX_MOVE)


def expand(policy: GaussianPolicy, tasks: int) -> Params:
    """The shared parameters as ``{name: [T, ...]}`` views, still connected to ``policy``'s."""
    return {n: p.expand(tasks, *p.shape) for n, p in policy.named_parameters()}


def adapt(policy: GaussianPolicy, params: Params, data: tuple[torch.Tensor, ...], inner_lr: float,
          first_order: bool = False) -> Params:
    """One policy-gradient step per task on its episodes ``data`` (:func:`flatten`)."""
    return gradient_steps(lambda p, x, _: surrogate_losses(policy, p, x), params, data, None, 1, inner_lr,
                          first_order)


@dataclass
class MetaBatch:
    """One meta-batch of MAML-RL: the meta-loss and what a trust region on the outer step needs."""

    loss: torch.Tensor            # the mean surrogate of the adapted policies on their own episodes
    before_return: torch.Tensor   # mean return of the shared policy's episodes
    after_return: torch.Tensor    # mean return of the adapted policies' episodes
    inner_data: tuple             # the episodes each task adapted on (:func:`flatten`)
    adapted: Params               # the adapted parameters ``{name: [T, ...]}``, detached
    after_states: torch.Tensor    # ``[T, N·H, 2]``: the states the adapted policies visited


def meta_batch(policy: GaussianPolicy, goals: torch.Tensor, trajectories: int, inner_lr: float,
               generator: torch.Generator | None = None, first_order: bool = False,
               gamma: float = 0.99) -> MetaBatch:
    """MAML's meta-loss on the tasks ``goals [T, 2]``, with the returns and the data behind it.

    Plays ``trajectories`` episodes per task with the shared parameters, adapts each task with one
    policy-gradient step, plays as many with the adapted parameters, and takes the mean surrogate on
    the latter (differentiable with respect to ``policy``'s parameters through the inner step).
    """
    shared = expand(policy, len(goals))
    before = play(policy, shared, goals, trajectories, generator)
    inner_data = flatten(before, gamma)
    adapted = adapt(policy, shared, inner_data, inner_lr, first_order)
    after = play(policy, adapted, goals, trajectories, generator)
    after_data = flatten(after, gamma)
    loss = surrogate_losses(policy, adapted, after_data).mean()
    return MetaBatch(loss, before.returns().mean(), after.returns().mean(), inner_data,
                     {n: p.detach() for n, p in adapted.items()}, after_data[0])


def meta_loss(policy: GaussianPolicy, goals: torch.Tensor, trajectories: int, inner_lr: float,
              generator: torch.Generator | None = None, first_order: bool = False,
              gamma: float = 0.99) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAML's meta-loss on the tasks ``goals [T, 2]``, and the mean return before and after adapting
    (:func:`meta_batch`, without the data)."""
    batch = meta_batch(policy, goals, trajectories, inner_lr, generator, first_order, gamma)
    return batch.loss, batch.before_return, batch.after_return


def gaussian_kl(policy: GaussianPolicy, old: Params, new: Params, states: torch.Tensor) -> torch.Tensor:
    """``[T]``: the mean over ``states [T, M, 2]`` of KL(π_old(·|s) ‖ π_new(·|s)), per task, for the
    policies with parameters ``old`` and ``new`` (each ``{name: [T, ...]}``)::

        KL = Σ_d  log(σ_new / σ_old) + (σ_old² + (μ_old − μ_new)²) / (2 σ_new²) − 1/2
    """
    mean_old, mean_new = batched_call(policy, old, states), batched_call(policy, new, states)
    log_old, log_new = old["log_std"][:, None, :], new["log_std"][:, None, :]
    kl = (log_new - log_old + (torch.exp(2 * log_old) + (mean_old - mean_new) ** 2)
          / (2 * torch.exp(2 * log_new)) - 0.5)
    return kl.sum(-1).mean(-1)


def adapted_kl(policy: GaussianPolicy, batch: MetaBatch, inner_lr: float) -> torch.Tensor:
    """The mean KL divergence from ``batch``'s adapted policies to those the *current* parameters of
    ``policy`` adapt to on the same episodes, over the states the adapted policies visited: the
    quantity TRPO bounds in Finn et al.'s MAML-TRPO. For a batch of :func:`pretrain_batch` (no inner
    step), the divergence of the shared policy itself."""
    tasks = batch.after_states.shape[0]
    if batch.inner_data is None:
        now = expand(policy, tasks)
    else:
        with torch.enable_grad():
            now = adapt(policy, expand(policy, tasks), batch.inner_data, inner_lr, first_order=True)
    with torch.no_grad():
        return gaussian_kl(policy, batch.adapted, {n: p.detach() for n, p in now.items()},
                           batch.after_states).mean()


def trust_region_step(optimiser: torch.optim.Optimizer, mean_kl: Callable[[], torch.Tensor],
                      max_kl: float = 0.01, backtracks: int = 10) -> float:
    """Take ``optimiser``'s step, then halve it until ``mean_kl()`` (evaluated at the new parameters)
    is at most ``max_kl``; undo it if ``backtracks`` halvings do not get there.

    A trust region in the manner of TRPO (Schulman et al., 2015) around any optimiser's step: the
    direction is the optimiser's, the length is cut so the policy moves by at most ``max_kl``.
    Returns the fraction of the step kept (1, 1/2, 1/4, ..., or 0).
    """
    params = [p for group in optimiser.param_groups for p in group["params"]]
    old = [p.detach().clone() for p in params]
    optimiser.step()
    proposed = [p.detach().clone() for p in params]
    fraction = 1.0
    with torch.no_grad():
        for _ in range(backtracks + 1):
            if float(mean_kl()) <= max_kl:
                return fraction
            fraction /= 2
            for p, o, n in zip(params, old, proposed):
                p.copy_(o + fraction * (n - o))
        for p, o in zip(params, old):
            p.copy_(o)
    return 0.0


def pretrain_batch(policy: GaussianPolicy, goals: torch.Tensor, trajectories: int,
                   generator: torch.Generator | None = None, gamma: float = 0.99) -> MetaBatch:
    """The multi-task baseline's batch: the surrogate of the shared parameters on every task's
    episodes, with no inner step (one policy for all goals). ``inner_data`` is None, ``adapted`` the
    shared parameters and both returns the return of those episodes."""
    shared = expand(policy, len(goals))
    run = play(policy, shared, goals, trajectories, generator)
    data = flatten(run, gamma)
    ret = run.returns().mean()
    return MetaBatch(surrogate_losses(policy, shared, data).mean(), ret, ret, None,
                     {n: p.detach().clone() for n, p in shared.items()}, data[0])


def pretrain_loss(policy: GaussianPolicy, goals: torch.Tensor, trajectories: int,
                  generator: torch.Generator | None = None, gamma: float = 0.99
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The multi-task baseline's loss and the mean return of its episodes (:func:`pretrain_batch`)."""
    batch = pretrain_batch(policy, goals, trajectories, generator, gamma)
    return batch.loss, batch.after_return


def returns_by_step(policy: GaussianPolicy, goals: torch.Tensor, trajectories: int, step_sizes: Sequence[float],
                    generator: torch.Generator | None = None, gamma: float = 0.99) -> torch.Tensor:
    """``[len(step_sizes) + 1, T]``: each task's mean return before adapting and after each
    policy-gradient step, step ``k`` of size ``step_sizes[k]`` taken on the episodes just played
    (Finn et al.'s evaluation: 0.5, then 0.25)."""
    params = {n: p.detach() for n, p in expand(policy, len(goals)).items()}
    returns = []
    for step in range(len(step_sizes) + 1):
        run = play(policy, params, goals, trajectories, generator)
        returns.append(run.returns().mean(1))
        if step < len(step_sizes):
            adapted = adapt(policy, params, flatten(run, gamma), step_sizes[step], first_order=True)
            params = {n: p.detach() for n, p in adapted.items()}
    return torch.stack(returns)
