"""metalib.domain's losses, each in float64 against an independent computation.

MMD against a direct double sum of kernels; CORAL against numpy's covariance; the reversal layer
(identity forward, -λ times the gradient backward); DANN's loss against the cross-entropy written
out; entropy, the mean teacher's consistency and class balance, and its moving average by hand.
"""
import math

import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from metalib.domain import (AdaptationBatch, CORALLoss, DANNLoss, EntropyMinimization, FeatureClassifier,
                            MeanTeacher, MMDLoss, class_balance_loss, consistency_loss, coral_loss,
                            coral_transform, covariance, ganin_schedule, mean_entropy, mmd2, reverse_gradient)
from metalib.domain.mmd import MULTIPLIERS


def sample(n, d, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def batch(source, target, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return AdaptationBatch(source, target, torch.randn(len(source), classes, generator=g, dtype=torch.float64),
                           torch.randn(len(target), classes, generator=g, dtype=torch.float64),
                           torch.zeros(len(source), dtype=torch.long), target)


# --- the reversal layer -------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [0.0, 0.3, 1.0, 2.5])
def test_reversal_is_the_identity_forward_and_minus_scale_times_the_gradient_backward(scale):
    x = sample(5, 3).requires_grad_()
    y = reverse_gradient(x, scale)
    assert torch.equal(y, x)
    upstream = sample(5, 3, seed=1)
    (grad,) = torch.autograd.grad(y, x, upstream)
    assert torch.allclose(grad, -scale * upstream, atol=0, rtol=0)


def test_ganins_schedule_rises_from_zero_to_one():
    assert ganin_schedule(0.0) == 0.0
    assert ganin_schedule(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)   # 0.9866
    assert ganin_schedule(1.0) == pytest.approx(0.99991, abs=1e-5)
    values = [ganin_schedule(p / 10) for p in range(11)]
    assert values == sorted(values)


@pytest.mark.parametrize("call, words", [(lambda: reverse_gradient(torch.ones(2), -1.0), "λ must be"),
                                         (lambda: reverse_gradient(torch.ones(2), float("nan")), "λ must be"),
                                         (lambda: ganin_schedule(1.5), "progress must lie in")])
def test_bad_reversal_arguments_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()


# --- DANN ---------------------------------------------------------------------------------------

def test_dann_is_the_cross_entropy_of_its_discriminator_and_reverses_the_features_gradient():
    torch.manual_seed(0)
    loss = DANNLoss(features=4, hidden=8, scale=0.7).double()
    # every parameter registered: [4 -> 8 -> 8 -> 1] linear layers
    assert sum(p.numel() for p in loss.parameters()) == (4 * 8 + 8) + (8 * 8 + 8) + (8 + 1)
    s, t = sample(6, 4).requires_grad_(), sample(5, 4, shift=1.0, seed=1).requires_grad_()
    value = loss(batch(s, t))
    d = loss.discriminator
    p_target = torch.sigmoid(d(torch.cat([s, t])).squeeze(-1))
    by_hand = -(torch.log(1 - p_target[:6]).sum() + torch.log(p_target[6:]).sum()) / 11
    assert value.item() == pytest.approx(by_hand.item(), abs=1e-12)
    # the discriminator descends L_d; the features receive -λ times the gradient of L_d
    g_reversed = torch.autograd.grad(value, [s, t], retain_graph=True)
    g_plain = torch.autograd.grad(by_hand, [s, t])
    for a, b in zip(g_reversed, g_plain):
        assert torch.allclose(a, -0.7 * b, atol=1e-14)


# --- MMD ----------------------------------------------------------------------------------------

def mmd2_double_sum(s, t, multipliers=MULTIPLIERS):
    """The biased MMD², every kernel evaluated one pair at a time (numpy, float64)."""
    s, t = s.numpy(), t.numpy()
    joint = np.concatenate([s, t])
    n = len(joint)
    scale = sum(((joint[i] - joint[j]) ** 2).sum() for i in range(n) for j in range(n) if i != j) / (n * n - n)

    def k(a, b):
        return sum(math.exp(-((a - b) ** 2).sum() / (m * scale)) for m in multipliers)

    def mean_k(a, b):
        return sum(k(x, y) for x in a for y in b) / (len(a) * len(b))

    return mean_k(s, s) + mean_k(t, t) - 2 * mean_k(s, t)


@pytest.mark.parametrize("shift", [0.0, 0.5, 2.0])
def test_mmd_equals_the_direct_double_sum_of_kernels(shift):
    s, t = sample(7, 3), sample(5, 3, shift=shift, seed=1)
    assert mmd2(s, t).item() == pytest.approx(mmd2_double_sum(s, t), abs=1e-12)
    assert MMDLoss()(batch(s, t)).item() == pytest.approx(mmd2_double_sum(s, t), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), m=st.integers(1, 8), shift=st.floats(-3, 3), seed=st.integers(0, 10 ** 6))
def test_mmd_is_never_negative_and_zero_between_a_sample_and_itself(n, m, shift, seed):
    s, t = sample(n, 2, seed=seed), sample(m, 2, shift=shift, seed=seed + 1)
    assert mmd2(s, t).item() >= -1e-12
    assert abs(mmd2(s, s).item()) < 1e-12


def test_mmd_grows_with_the_shift_and_its_gradient_reaches_the_features():
    values = [mmd2(sample(64, 4), sample(64, 4, shift=shift, seed=1)).item() for shift in (0.0, 0.5, 1.0, 2.0)]
    # same distribution: only the biased estimate's O(1/n) excess (0.097 measured); shifted: 2.9
    assert values == sorted(values) and values[-1] > 20 * values[0]
    t = sample(16, 4, shift=1.0, seed=1).requires_grad_()
    (g,) = torch.autograd.grad(mmd2(sample(16, 4), t), t)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


# --- CORAL --------------------------------------------------------------------------------------

def test_covariance_and_the_coral_loss_equal_the_formula():
    s, t = sample(20, 4), sample(15, 4, seed=1) * torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    assert np.allclose(covariance(s).numpy(), np.cov(s.numpy(), rowvar=False), atol=1e-12)
    by_formula = ((np.cov(s.numpy(), rowvar=False) - np.cov(t.numpy(), rowvar=False)) ** 2).sum() / (4 * 4 ** 2)
    assert coral_loss(s, t).item() == pytest.approx(by_formula, abs=1e-12)
    assert CORALLoss()(batch(s, t)).item() == pytest.approx(by_formula, abs=1e-12)
    assert coral_loss(s, s + 3.0).item() == pytest.approx(0.0, abs=1e-12)   # a mean shift is not a covariance


def test_linear_coral_colours_the_source_like_the_target():
    s = sample(400, 3)
    t = sample(400, 3, seed=1) @ torch.tensor([[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.3, 1.5]], dtype=torch.float64)
    c_s, c_t, eye = covariance(s), covariance(t), torch.eye(3, dtype=torch.float64)
    for eps in (1.0, 0.1):   # cov(X') = C_T^{1/2} (I - ε C_S^{-1}) C_T^{1/2}, with C = cov + ε I
        a, b = c_s + eps * eye, c_t + eps * eye
        values, vectors = torch.linalg.eigh(b)
        root = (vectors * values.sqrt()) @ vectors.T
        expected = root @ (eye - eps * torch.linalg.inv(a)) @ root
        assert torch.allclose(covariance(coral_transform(s, t, eps)), expected, atol=1e-10)
    assert torch.allclose(covariance(coral_transform(s, t, eps=1e-8)), c_t, atol=1e-6)


# --- entropy and the mean teacher ---------------------------------------------------------------

def test_mean_entropy_equals_the_formula_and_its_extremes():
    logits = sample(6, 4)
    p = torch.softmax(logits, -1).numpy()
    assert mean_entropy(logits).item() == pytest.approx(float(-(p * np.log(p)).sum(1).mean()), abs=1e-12)
    assert mean_entropy(torch.zeros(3, 5, dtype=torch.float64)).item() == pytest.approx(math.log(5), abs=1e-12)
    assert mean_entropy(torch.tensor([[50.0, 0.0, 0.0]], dtype=torch.float64)).item() < 1e-18
    assert EntropyMinimization()(batch(sample(2, 2), sample(4, 2))).item() > 0


def test_consistency_counts_only_the_examples_the_teacher_is_sure_of():
    student = sample(5, 3, seed=2)
    teacher = torch.tensor([[9.0, 0, 0], [0, 0, 0], [0, 9.0, 0], [1.0, 0, 0], [0, 0, 9.0]], dtype=torch.float64)
    loss, mask = consistency_loss(student, teacher, threshold=0.968)
    s, t = student.softmax(-1).numpy(), teacher.softmax(-1).numpy()
    confident = t.max(1) > 0.968
    assert mask.tolist() == confident.astype(float).tolist() == [1, 0, 1, 0, 1]
    assert loss.item() == pytest.approx(float((((s - t) ** 2).mean(1) * confident).sum() / 5), abs=1e-12)


def test_class_balance_is_the_summed_binary_cross_entropy_and_flat_at_a_uniform_mean():
    logits = sample(8, 4).requires_grad_()
    mean = logits.softmax(-1).mean(0).detach().numpy()
    by_hand = -(0.25 * np.log(mean) + 0.75 * np.log(1 - mean)).sum()
    assert class_balance_loss(logits).item() == pytest.approx(by_hand, abs=1e-12)
    balanced = torch.eye(4, dtype=torch.float64).mul(3.0).requires_grad_()   # one confident example per class
    (g,) = torch.autograd.grad(class_balance_loss(balanced), balanced)
    assert g.abs().max().item() < 1e-12


def test_the_teacher_is_a_frozen_moving_average_of_the_student():
    torch.manual_seed(0)
    student = FeatureClassifier(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    loss = MeanTeacher(student, decay=0.9)
    assert all(not p.requires_grad for p in loss.parameters())   # the loop's optimiser leaves it alone
    before = [p.detach().clone() for p in loss.teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    loss.after_step(student)
    for t, b, s in zip(loss.teacher.parameters(), before, student.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-14)
    x = sample(6, 3)
    value = loss(AdaptationBatch(x, x, student(x), student(x), torch.zeros(6, dtype=torch.long), x))
    assert torch.isfinite(value) and 0 <= float(loss.confident) <= 1


@pytest.mark.parametrize("call, words", [
    (lambda: mmd2(torch.ones(3, 2), torch.ones(3, 4)), "same width"),
    (lambda: coral_loss(torch.ones(3, 2), torch.ones(3, 4)), "same width"),
    (lambda: covariance(torch.ones(1, 2)), "n >= 2"),
    (lambda: coral_transform(torch.ones(3, 2), torch.ones(3, 2), eps=0), "eps must be positive"),
    (lambda: MeanTeacher(nn.Linear(2, 2), decay=1.0), "decay must lie"),
])
def test_bad_inputs_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()
