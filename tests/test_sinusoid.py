"""Sinusoid regression tasks (Finn et al., 2017, section 5.1)."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from metalib.data.sinusoid import SinusoidTasks


@settings(max_examples=50, deadline=None)
@given(batch=st.integers(1, 64), k=st.integers(1, 50), q=st.integers(0, 50), seed=st.integers(0, 10**6))
def test_tasks_follow_the_maml_ranges_and_their_own_function(batch, k, q, seed):
    ep = SinusoidTasks(device="cpu", seed=seed).sample(batch, k, q)
    assert ep.support_x.shape == ep.support_y.shape == (batch, k, 1)
    assert ep.query_x.shape == ep.query_y.shape == (batch, q, 1)
    assert bool(((0.1 <= ep.amplitude) & (ep.amplitude <= 5)).all())
    assert bool(((0 <= ep.phase) & (ep.phase <= math.pi)).all())
    x = torch.cat([ep.support_x, ep.query_x], 1)
    y = torch.cat([ep.support_y, ep.query_y], 1)
    assert bool(((-5 <= x) & (x <= 5)).all())
    expected = ep.amplitude.view(-1, 1, 1) * torch.sin(x - ep.phase.view(-1, 1, 1))
    assert torch.allclose(y, expected)


def test_same_seed_same_tasks_and_tasks_differ():
    a = SinusoidTasks(device="cpu", seed=1).sample(100, 5)
    b = SinusoidTasks(device="cpu", seed=1).sample(100, 5)
    assert torch.equal(a.support_y, b.support_y)
    assert a.amplitude.std() > 1 and a.phase.std() > 0.5   # the family really varies


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="k_shot must be an integer >= 1"):
        SinusoidTasks(device="cpu").sample(4, 0)
    with pytest.raises(ValueError, match="amplitude must be a range"):
        SinusoidTasks(amplitude=(5, 1), device="cpu")


def test_grid_spans_the_input_range():
    g = SinusoidTasks(device="cpu").grid(11)
    assert g.shape == (11, 1) and g[0].item() == -5 and g[-1].item() == 5
