"""metalib.rl.navigation: the batched 2-D navigation tasks against learn2learn's Particles2DEnv."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from metalib.rl import HORIZON, Navigation2D, rollout, sample_goals


def learn2learn_episode(goal: np.ndarray, actions: np.ndarray) -> tuple[list, list]:
    """States and rewards of learn2learn's environment on one goal and a sequence of actions, until done."""
    particles = pytest.importorskip("learn2learn.gym.envs.particles")
    env = particles.Particles2DEnv(task={"goal": goal})
    env.reset()
    states, rewards = [], []
    for action in actions:
        state, reward, done, _ = env.step(action.astype(np.float32))
        states.append(np.array(state))
        rewards.append(reward)
        if done:
            break
    return states, rewards


def test_the_same_dynamics_as_learn2learn_on_the_same_actions():
    generator = torch.Generator().manual_seed(0)
    goals = torch.cat([torch.tensor([[0.3, 0.2]]), sample_goals(5, generator)])
    actions = 0.15 * torch.randn(len(goals), 1, 40, 2, generator=generator)       # many beyond the clip
    actions[0, 0, :3] = torch.tensor([[0.1, 0.1], [0.1, 0.1], [0.1, 0.0]])       # reaches (0.3, 0.2)
    env = Navigation2D(goals, trajectories=1)
    env.reset()
    ours = [env.step(actions[:, :, t]) for t in range(actions.shape[2])]
    ended = 0
    for task, goal in enumerate(goals.double().numpy()):
        states, rewards = learn2learn_episode(goal, actions[task, 0].numpy())
        for t, (state, reward) in enumerate(zip(states, rewards)):
            np.testing.assert_allclose(ours[t][0][task, 0].numpy(), state, atol=1e-6)
            assert abs(float(ours[t][1][task, 0]) - reward) < 1e-6
        if len(states) < actions.shape[2]:          # learn2learn's episode ended: ours too, at that step
            ended += 1
            assert bool(ours[len(states) - 1][2][task, 0]) and not bool(ours[len(states) - 2][2][task, 0])
    assert ended >= 1


def test_an_ended_trajectory_stays_put_and_earns_nothing():
    env = Navigation2D(torch.tensor([[0.1, 0.0]]), trajectories=2)
    env.reset()
    step = torch.tensor([[[0.1, 0.0], [0.0, 0.1]]])
    states, rewards, done = env.step(step)
    assert done.tolist() == [[True, False]] and rewards[0, 0] == 0 and rewards[0, 1] < 0
    states, rewards, done = env.step(step)
    assert states[0, 0].tolist() == pytest.approx([0.1, 0.0]) and rewards[0, 0] == 0
    assert states[0, 1].tolist() == pytest.approx([0.0, 0.2]) and not done[0, 1]


def test_rollout_steps_every_task_and_trajectory_at_once():
    goals = sample_goals(3, torch.Generator().manual_seed(1))
    towards = lambda s: goals[:, None, :] - s                            # noqa: E731 - head for the goal
    run = rollout(towards, goals, trajectories=4)
    assert run.states.shape == (3, 4, HORIZON, 2) and run.rewards.shape == (3, 4, HORIZON)
    assert (run.states[:, :, 0] == 0).all()
    assert bool(run.live[..., 0].all()) and not bool(run.live[..., -1].any())   # every one arrived
    # a greedy walk takes ceil(largest coordinate / 0.1) steps and then stops earning
    steps = (goals.abs().max(1).values / 0.1).ceil().long()
    assert run.live.sum(-1).tolist() == [[int(n)] * 4 for n in steps]
    assert (run.returns() > -5).all() and (run.returns() < 0).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\[T, 2\]"):
        Navigation2D(torch.zeros(3), trajectories=1)
    with pytest.raises(ValueError, match="NaN"):
        Navigation2D(torch.tensor([[float("nan"), 0.0]]), trajectories=1)
    with pytest.raises(ValueError, match="trajectories"):
        Navigation2D(torch.zeros(1, 2), trajectories=0)
    env = Navigation2D(torch.zeros(2, 2), trajectories=3)
    with pytest.raises(ValueError, match=r"\[T, N, 2\] = \[2, 3, 2\]"):
        env.step(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="policy"):
        env.step(torch.full((2, 3, 2), float("nan")))
    with pytest.raises(ValueError, match="tasks"):
        sample_goals(0)


def test_goals_are_uniform_on_the_square_and_seeded():
    goals = sample_goals(20_000, torch.Generator().manual_seed(0))
    assert goals.abs().max() <= 0.5 and goals.mean(0).abs().max() < 0.01
    assert abs(float(goals.var(0).mean()) - 1 / 12) < 0.003                 # the variance of U[-0.5, 0.5]
    assert torch.equal(sample_goals(4, torch.Generator().manual_seed(3)),
                       sample_goals(4, torch.Generator().manual_seed(3)))


def test_rollout_scales_a_policy_that_acts_in_minus_one_one():
    run = rollout(lambda s: torch.ones_like(s), torch.tensor([[0.45, 0.45]]), trajectories=1, horizon=3, scale=0.1)
    assert run.states[0, 0, :, 0].tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert (run.actions == 1).all()                      # stored as the policy chose them
