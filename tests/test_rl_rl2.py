"""metalib.rl.rl2: the recurrent policy's trials, memory across episodes, and its actor-critic loss."""
import metalib  # noqa: F401  (before torch)
import torch

from metalib.rl import sample_goals
from metalib.rl.rl2 import RecurrentPolicy, gae, play_trials, returns_to_go, trial_loss


def test_gae_matches_the_direct_sum_in_float64():
    g = torch.Generator().manual_seed(0)
    rewards = -torch.rand(3, 12, generator=g, dtype=torch.float64)
    values = torch.randn(3, 12, generator=g, dtype=torch.float64)
    live = torch.ones(3, 12, dtype=torch.float64)
    live[1, 8:] = 0
    rewards = rewards * live
    gamma, lam = 0.9, 0.8
    got = gae(rewards, values, live, gamma, lam)
    for b in range(3):
        v = [float(values[b, t] * live[b, t]) for t in range(12)] + [0.0]
        deltas = [(float(rewards[b, t]) + gamma * v[t + 1] - v[t]) * float(live[b, t]) for t in range(12)]
        for t in range(12):
            expected = sum((gamma * lam) ** k * deltas[t + k] for k in range(12 - t))
            assert abs(float(got[b, t]) - expected) < 1e-12
    g2 = returns_to_go(rewards, gamma)
    assert abs(float(g2[0, 0]) - sum(gamma ** t * float(rewards[0, t]) for t in range(12))) < 1e-12


def test_trials_carry_memory_from_one_episode_to_the_next():
    torch.manual_seed(0)
    policy = RecurrentPolicy(hidden=16)
    goals = sample_goals(3, torch.Generator().manual_seed(1))
    with torch.no_grad():
        trial = play_trials(policy, goals, 4, episodes=2, generator=torch.Generator().manual_seed(2), horizon=10)
    run = trial.run
    assert run.states.shape == (3, 4, 20, 2) and trial.log_probs.shape == (3, 4, 20)
    assert trial.episode_returns().shape == (3, 4, 2)
    assert torch.equal(run.states[:, :, 10], torch.zeros(3, 4, 2))           # the second episode restarts
    # same state and inputs, but the memory of the first episode: a different action mean
    h0 = policy.initial(3, 4)
    first = torch.ones(3, 4, dtype=torch.bool)
    _, fresh_mean, _ = policy(h0, run.states[:, :, 10], run.actions[:, :, 9], run.rewards[:, :, 9], first)
    z = (run.actions[:, :, 10] - fresh_mean) / policy.log_std.exp()
    fresh_logp = (-0.5 * z ** 2 - policy.log_std - 0.5 * torch.log(torch.tensor(2 * torch.pi))).sum(-1)
    assert not torch.allclose(fresh_logp, trial.log_probs[:, :, 10])


def test_trial_loss_reaches_every_parameter():
    torch.manual_seed(0)
    policy = RecurrentPolicy(hidden=8)
    trial = play_trials(policy, sample_goals(2, torch.Generator().manual_seed(0)), 3, 2,
                        torch.Generator().manual_seed(0), horizon=6)
    trial_loss(trial).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
               for p in policy.parameters())
