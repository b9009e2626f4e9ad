"""metalib.multitask's architectures, loss weightings, task grouping and Δm."""
import math

import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from metalib.multitask import (CrossStitch, DynamicWeightAverage, GradNorm, HardSharing, L2SoftSharing,
                               UncertaintyWeighting, best_grouping, delta_m, equal_weighting, log_sum,
                               lookahead_affinity, partitions, task_jacobian)


def block():
    return [nn.Sequential(nn.Linear(6, 8), nn.ReLU()), nn.Sequential(nn.Linear(8, 5), nn.ReLU())]


def test_hard_sharing_runs_the_trunk_once_and_splits_parameters():
    torch.manual_seed(0)
    model = HardSharing(nn.Sequential(nn.Linear(6, 5), nn.ReLU()), [nn.Linear(5, 1), nn.Linear(5, 3)])
    out = model(torch.randn(4, 6))
    assert [o.shape for o in out] == [(4, 1), (4, 3)]
    assert len(model.shared_parameters()) == 2 and len(model.task_parameters()) == 4


def test_cross_stitch_identity_is_separate_columns_and_stitches_learn():
    torch.manual_seed(0)
    model = CrossStitch(block, [nn.Linear(5, 1), nn.Linear(5, 1)], self_weight=1.0)
    x = torch.randn(7, 6)
    out = model(x)
    for i in range(2):  # α = I: each head sees only its own column
        h = x
        for layer in model.columns[i]:
            h = layer(h)
        assert torch.allclose(out[i], model.heads[i](h), atol=1e-6)
    sum(o.sum() for o in model(x)).backward()
    assert model.stitches.grad is not None and model.stitches.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.columns.parameters())
    with pytest.raises(ValueError, match="at least two task columns"):
        CrossStitch(block, [nn.Linear(5, 1)])


def test_soft_sharing_penalty_is_the_pairwise_distance():
    torch.manual_seed(0)
    model = L2SoftSharing(lambda: nn.Linear(3, 2), [nn.Linear(2, 1) for _ in range(3)], strength=0.5)
    flat = [torch.cat([p.flatten() for p in t.parameters()]) for t in model.trunks]
    pairwise = sum(((flat[i] - flat[j]) ** 2).sum() for i in range(3) for j in range(i + 1, 3))
    assert torch.allclose(model.penalty(), 0.5 * pairwise)
    x = torch.randn(5, 3)
    assert torch.allclose(model(x)[1], model.heads[1](model.trunks[1](x)), atol=1e-6)
    model.penalty().backward()
    assert all(p.grad is not None for p in model.trunks.parameters())


def test_equal_and_log_sum_and_their_units():
    losses = torch.tensor([2.0, 3.0], requires_grad=True)
    scale = torch.tensor([1e4, 1.0])
    g_log = torch.autograd.grad(log_sum(losses * scale), losses)[0]
    assert torch.allclose(g_log, 1 / losses.detach())  # units do not reach the gradient
    g_eq = torch.autograd.grad(equal_weighting(losses * scale), losses)[0]
    assert torch.allclose(g_eq, scale)
    with pytest.raises(ValueError, match="every loss > 0"):
        log_sum(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"vector \[T\]"):
        equal_weighting(torch.tensor(1.0))


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-3, 1e3), st.sampled_from(["regression", "classification"]))
def test_uncertainty_weighting_optimum_is_log_2aL(loss, kind):
    weighting = UncertaintyWeighting([kind])
    weighting.start_at(torch.tensor([loss]))
    s = weighting.log_variance
    grad = torch.autograd.grad(weighting(torch.tensor([loss])), s)[0]
    assert abs(float(grad)) < 1e-5
    a = 0.5 if kind == "regression" else 1.0
    assert math.isclose(float(s.detach()), math.log(2 * a * loss), rel_tol=1e-5, abs_tol=1e-6)
    assert math.isclose(float(weighting.weights()), 1 / (2 * loss), rel_tol=1e-4)


def test_uncertainty_weighting_barely_moves_at_adams_usual_rate():
    weighting = UncertaintyWeighting(["regression"])
    optimiser = torch.optim.Adam(weighting.parameters(), lr=1e-3)
    for _ in range(200):
        optimiser.zero_grad()
        weighting(torch.tensor([1e4])).backward()
        optimiser.step()
    assert float(weighting.log_variance.detach()) < 0.25 < math.log(1e4)  # 200 steps of 1e-3: at most 0.2
    with pytest.raises(ValueError, match="kinds must name"):
        UncertaintyWeighting(["ranking"])


def test_dynamic_weight_average():
    dwa = DynamicWeightAverage(2, temperature=2.0)
    for losses in ([1.0, 1.0], [1.0, 0.5], [1.0, 0.25]):
        assert torch.allclose(dwa(torch.tensor(losses)), (dwa.weights() * torch.tensor(losses)).sum())
        dwa.end_epoch()
    w = dwa.weights()
    rates = torch.tensor([1.0, 0.5])  # task 0 stalled, task 1 still halving
    assert torch.allclose(w, 2 * torch.softmax(rates / 2, 0)) and w[0] > w[1] and torch.isclose(w.sum(), torch.tensor(2.0))


def test_gradnorm_raises_the_weight_of_the_task_with_small_gradients():
    torch.manual_seed(0)
    layer = nn.Linear(3, 1)
    x = torch.randn(32, 3)
    gradnorm = GradNorm(2, alpha=0.0)
    optimiser = torch.optim.SGD(gradnorm.parameters(), lr=0.01)
    for _ in range(50):
        out = layer(x)
        losses = torch.stack([out.pow(2).mean(), 0.01 * out.pow(2).mean()])  # task 1: 100 times smaller gradients
        optimiser.zero_grad()
        gradnorm(losses, list(layer.parameters()))
        optimiser.step()
        gradnorm.renormalise()
    w = gradnorm.weights.detach()
    assert w[1] > 1.4 > 0.6 > w[0] and torch.isclose(w.sum(), torch.tensor(2.0))


def test_lookahead_affinity_matches_a_direct_computation():
    torch.manual_seed(0)
    x = torch.randn(20, 3)
    targets = torch.randn(20, 3)
    weight = torch.randn(3, 3, requires_grad=True)

    def losses_at(shared):
        return ((x @ shared["weight"] - targets) ** 2).mean(0)

    losses = losses_at({"weight": weight})
    jac = task_jacobian(losses, [weight])
    z = lookahead_affinity(losses_at, {"weight": weight}, jac, lr=0.1)
    for i in range(3):
        stepped = weight.detach() - 0.1 * jac[i].view(3, 3)
        direct = 1 - losses_at({"weight": stepped}) / losses.detach()
        assert torch.allclose(z[i], direct, atol=1e-6)
    assert (z.diagonal() > 0).all()  # a task's own step helps it


@pytest.mark.parametrize("t, k, stirling", [(4, 2, 7), (5, 2, 15), (5, 3, 25), (6, 3, 90), (8, 3, 966)])
def test_partitions_count_is_the_stirling_number(t, k, stirling):
    splits = list(partitions(list(range(t)), k))
    assert len(splits) == stirling
    assert len({tuple(tuple(g) for g in sorted(s)) for s in splits}) == stirling
    assert all(sorted(i for g in s for i in g) == list(range(t)) for s in splits)


def test_best_grouping_finds_the_blocks():
    z = torch.full((4, 4), -0.2)
    z[:2, :2] = 0.3
    z[2:, 2:] = 0.4
    groups, score = best_grouping(z[[0, 2, 1, 3]][:, [0, 2, 1, 3]], 2)
    assert groups == [[0, 2], [1, 3]] and math.isclose(score, 0.3 * 2 + 0.4 * 2, rel_tol=1e-6)
    with pytest.raises(ValueError, match="k must be between 1"):
        best_grouping(z, 5)


def test_delta_m():
    assert math.isclose(delta_m([0.9, 0.5], [0.8, 1.0], [True, False]), 100 * (0.125 + 0.5) / 2)
    with pytest.raises(ValueError, match="one multi-task value"):
        delta_m([1.0], [1.0, 2.0], [True])


@pytest.mark.parametrize("method", __import__("metalib.multitask.training", fromlist=["METHODS"]).METHODS)
def test_every_method_takes_a_step_that_lowers_the_losses(method):
    from metalib.multitask.training import MultiTaskStep
    torch.manual_seed(0)
    model = HardSharing(nn.Sequential(nn.Linear(4, 8), nn.Tanh()), [nn.Linear(8, 1) for _ in range(3)])
    x, y = torch.randn(32, 4), torch.randn(3, 32)
    step = MultiTaskStep(model.shared_parameters(), model.task_parameters(), method,
                         ["regression"] * 3, lr=1e-2, dwa_window=2,
                         trunk=model.trunk if method in ("pcgrad", "mgda") else None,
                         heads=model.heads if method in ("pcgrad", "mgda") else None)

    def losses():
        return torch.stack([(o.squeeze(1) - t).pow(2).mean() for o, t in zip(model(x), y)])

    before = losses().detach()
    for _ in range(30):
        step.step(losses(), **({"after": losses} if method == "famo" else {}))
    assert losses().sum() < before.sum()


def test_multitask_step_names_bad_arguments():
    from metalib.multitask.training import MultiTaskStep
    model = HardSharing(nn.Linear(4, 8), [nn.Linear(8, 1)])
    with pytest.raises(ValueError, match="unknown method 'sgd'"):
        MultiTaskStep(model.shared_parameters(), model.task_parameters(), "sgd", ["regression"])
    with pytest.raises(ValueError, match="needs heads"):
        MultiTaskStep(model.shared_parameters(), model.task_parameters(), "mgda", ["regression"],
                      trunk=model.trunk)
    step = MultiTaskStep(model.shared_parameters(), model.task_parameters(), "equal", ["regression"])
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match=r"tasks \[0\] are NaN or infinite.*no parameter"):
        step.step(torch.tensor([float("nan")], requires_grad=True))
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))  # nothing lost
    with pytest.raises(ValueError, match="one loss per task"):
        step.step(torch.ones(2))


def test_glyph_multitask_set_labels():
    from metalib.multitask.glyph_tasks import glyph_multitask_set
    data = glyph_multitask_set(alphabets=2, per_alphabet=3, drawings=4)
    assert data.x.shape == (24, 1, 28, 28) and 0 <= float(data.x.min()) and float(data.x.max()) <= 1
    assert data.targets["character"].tolist() == [c for c in range(6) for _ in range(4)]
    assert set(data.targets["alphabet"].tolist()) == {0, 1} and set(data.targets["pen"].tolist()) <= {0, 1, 2}
    assert abs(float(data.targets["rotation"].mean())) < 1e-5  # standardised
