"""metalib.rl.maml_rl: the batched policy-gradient MAML against one-task-at-a-time references in float64."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from metalib.rl import GaussianPolicy, meta_loss, sample_goals
from metalib.rl.maml_rl import (adapt, adapted_kl, advantages, expand, flatten, gaussian_kl, meta_batch, play,
                                pretrain_batch, surrogate_losses, task_log_probs, trust_region_step)


def policy64(seed: int = 0) -> GaussianPolicy:
    torch.manual_seed(seed)
    policy = GaussianPolicy(hidden=(16, 16), log_std=-0.5).double()
    return policy


def episodes(policy, tasks=3, trajectories=4, horizon=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    goals = sample_goals(tasks, generator).double()
    return goals, play(policy, expand(policy, tasks), goals, trajectories, generator, horizon)


def test_log_probs_are_each_tasks_gaussian():
    policy = policy64()
    goals, run = episodes(policy)
    params = {n: p.detach() + 0.01 * torch.randn(3, *p.shape, dtype=torch.float64)
              for n, p in policy.named_parameters()}
    states, actions = run.states.flatten(1, 2), run.actions.flatten(1, 2)
    ours = task_log_probs(policy, params, states, actions)
    for b in range(3):
        own = {n: p[b] for n, p in params.items()}
        mean = functional_call(policy, own, (states[b],))
        expected = torch.distributions.Normal(mean, own["log_std"].exp()).log_prob(actions[b]).sum(-1)
        torch.testing.assert_close(ours[b], expected, rtol=0, atol=1e-12)


def test_advantages_are_centred_returns_to_go():
    policy = policy64()
    _, run = episodes(policy, horizon=30)
    a = advantages(run, gamma=0.9)
    to_go = torch.stack([sum(0.9 ** (u - t) * run.rewards[..., u] for u in range(t, 30)) for t in range(30)], -1)
    centred = (to_go - to_go.mean(1, keepdim=True)) * run.live
    expected = centred / centred.flatten(1).std(1)[:, None, None]
    torch.testing.assert_close(a, expected, rtol=0, atol=1e-10)
    assert (a[~run.live] == 0).all()


@pytest.mark.parametrize("first_order", [False, True])
def test_the_meta_gradient_matches_one_task_at_a_time(first_order):
    policy = policy64()
    goals, before = episodes(policy, seed=1)
    _, after = episodes(policy, seed=2)
    inner_lr = 0.3

    adapted = adapt(policy, expand(policy, 3), flatten(before), inner_lr, first_order)
    ours = torch.autograd.grad(surrogate_losses(policy, adapted, flatten(after)).mean(), list(policy.parameters()))

    names, theta = zip(*policy.named_parameters())
    total = 0
    for b in range(3):
        def loss(params, data):
            states, actions, weights, live = (d[b] for d in data)
            mean = functional_call(policy, dict(zip(names, params)), (states,))
            log_p = torch.distributions.Normal(mean, params[names.index("log_std")].exp()).log_prob(actions).sum(-1)
            return -(log_p * weights).sum() / live.sum()
        at = [p.detach().requires_grad_() for p in theta] if first_order else list(theta)
        grads = torch.autograd.grad(loss(at, flatten(before)), at, create_graph=not first_order)
        total = total + loss([p - inner_lr * g for p, g in zip(theta, grads)], flatten(after)) / 3
    expected = torch.autograd.grad(total, list(theta))
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_meta_loss_reports_returns_before_and_after_and_can_be_descended():
    torch.manual_seed(0)
    policy = GaussianPolicy(hidden=(16, 16))
    loss, before, after = meta_loss(policy, sample_goals(2), trajectories=3, inner_lr=0.1,
                                    generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.shape == () and before < 0 and after < 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in policy.parameters())


def test_gaussian_kl_is_the_closed_form_of_torch_distributions():
    policy = policy64()
    _, run = episodes(policy)
    old = {n: p.detach() + 0.05 * torch.randn(3, *p.shape, dtype=torch.float64) for n, p in policy.named_parameters()}
    new = {n: p.detach() + 0.05 * torch.randn(3, *p.shape, dtype=torch.float64) for n, p in policy.named_parameters()}
    states = run.states.flatten(1, 2)
    ours = gaussian_kl(policy, old, new, states)
    for b in range(3):
        dist = [torch.distributions.Normal(functional_call(policy, {n: p[b] for n, p in ps.items()}, (states[b],)),
                                           ps["log_std"][b].exp()) for ps in (old, new)]
        expected = torch.distributions.kl_divergence(*dist).sum(-1).mean()
        torch.testing.assert_close(ours[b], expected, rtol=0, atol=1e-12)
    assert torch.equal(gaussian_kl(policy, old, old, states), torch.zeros(3, dtype=torch.float64))


def test_adapted_kl_is_zero_where_the_policy_has_not_moved_and_grows_with_a_step():
    policy = policy64()
    goals = sample_goals(3, torch.Generator().manual_seed(1)).double()
    for batch in (meta_batch(policy, goals, 4, 0.1, torch.Generator().manual_seed(2)),
                  pretrain_batch(policy, goals, 4, torch.Generator().manual_seed(2))):
        assert float(adapted_kl(policy, batch, 0.1)) < 1e-20
        with torch.no_grad():
            for p in policy.parameters():
                p.add_(0.01)
        moved = float(adapted_kl(policy, batch, 0.1))
        assert moved > 1e-8
        with torch.no_grad():
            for p in policy.parameters():
                p.sub_(0.01)


def test_the_trust_region_halves_the_step_until_the_divergence_fits_and_else_undoes_it():
    start = torch.tensor([1.0, -2.0], dtype=torch.float64)
    p = torch.nn.Parameter(start.clone())
    optimiser = torch.optim.SGD([p], lr=1.0)

    def proposal():                     # SGD's step moves p by (2, 0): the "divergence" is |p - start|^2
        optimiser.zero_grad()
        p.grad = torch.tensor([-2.0, 0.0], dtype=torch.float64)

    def divergence():
        return ((p - start) ** 2).sum()

    proposal()
    assert trust_region_step(optimiser, divergence, max_kl=5.0) == 1.0          # 4 <= 5: kept whole
    torch.testing.assert_close(p.detach(), start + torch.tensor([2.0, 0.0], dtype=torch.float64))
    with torch.no_grad():
        p.copy_(start)
    proposal()
    assert trust_region_step(optimiser, divergence, max_kl=0.3) == 0.25         # 4 -> 1 -> 0.25
    torch.testing.assert_close(p.detach(), start + torch.tensor([0.5, 0.0], dtype=torch.float64))
    with torch.no_grad():
        p.copy_(start)
    proposal()
    assert trust_region_step(optimiser, divergence, max_kl=1e-6, backtracks=2) == 0.0
    assert torch.equal(p.detach(), start)                                       # undone
