"""metalib.domain.validators on synthetic cases whose right answer is known, and their formulas.

Two candidate models per case, one better on the target by construction; each validator is asked
to rank them without the target's labels. Source accuracy is expected to pick the wrong one where
the errors of the better model sit on the source's side of the shift.
"""
import math

import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metalib.domain import (deep_embedded_validation, density_ratio, importance_weighted_accuracy,
                            information_maximization, reverse_validation, source_accuracy)


def rule_logits(x, predict_one, sharpness=3.0):
    """Logits ±sharpness for the class a rule predicts at each point x."""
    sign = predict_one(x).double() * 2 - 1
    return torch.stack([-sharpness * sign, sharpness * sign], dim=-1)


@pytest.fixture(scope="module")
def covariate_shift():
    """y = 1[x > 0] in both domains; the source lies around -1, the target around +1.

    Model A is wrong on x > 1.5 (mostly target), model B on x < -1.5 (mostly source): B is the
    better model on the target, A on the source."""
    g = torch.Generator().manual_seed(0)
    source = torch.randn(2000, 1, generator=g, dtype=torch.float64) - 1
    target = torch.randn(2000, 1, generator=g, dtype=torch.float64) + 1
    models = {"A": lambda x: (x[:, 0] > 0) & (x[:, 0] < 1.5), "B": lambda x: (x[:, 0] > 0) | (x[:, 0] < -1.5)}
    return source, target, models


def test_on_a_covariate_shift_source_accuracy_picks_the_wrong_model_and_weighting_fixes_it(covariate_shift):
    source, target, models = covariate_shift
    y_source, y_target = (source[:, 0] > 0).long(), (target[:, 0] > 0).long()
    truth = {k: source_accuracy(rule_logits(target, m), y_target) for k, m in models.items()}
    assert truth["B"] > truth["A"] + 0.2                      # B is the better model on the target
    weights = density_ratio(source, target)
    scores = {}
    for k, m in models.items():
        logits = rule_logits(source, m)
        correct = (logits.argmax(-1) == y_source).double()
        losses = F.cross_entropy(logits, y_source, reduction="none")
        scores[k] = {"source": source_accuracy(logits, y_source),
                     "IWV": importance_weighted_accuracy(correct, weights),
                     "DEV": deep_embedded_validation(losses, weights)}
    assert scores["A"]["source"] > scores["B"]["source"]      # source validation: the wrong choice
    assert scores["B"]["IWV"] > scores["A"]["IWV"]
    assert scores["B"]["DEV"] > scores["A"]["DEV"]
    # importance weighting estimates the target accuracy itself, not only the ranking
    for k in models:
        assert scores[k]["IWV"] == pytest.approx(truth[k], abs=0.05)


def test_the_density_ratio_of_two_gaussians_is_recovered():
    # N(1, 1) over N(-1, 1): the ratio is exp(2x); a logistic domain classifier is exactly right here
    g = torch.Generator().manual_seed(1)
    source = torch.randn(20000, 1, generator=g, dtype=torch.float64) - 1
    target = torch.randn(20000, 1, generator=g, dtype=torch.float64) + 1
    at = torch.tensor([[-1.0], [0.0], [0.5]], dtype=torch.float64)
    assert np.allclose(np.log(density_ratio(source, target, at=at)), 2 * at[:, 0].numpy(), atol=0.1)


def test_dev_is_the_control_variate_formula_and_equals_the_weighted_risk_at_constant_weights():
    g = torch.Generator().manual_seed(2)
    losses = torch.rand(50, generator=g, dtype=torch.float64)
    w = torch.rand(50, generator=g, dtype=torch.float64).numpy() + 0.5
    weighted = w * losses.numpy()
    eta = -np.cov(weighted, w)[0, 1] / np.var(w, ddof=1)
    assert deep_embedded_validation(losses, w) == pytest.approx(-(weighted.mean() + eta * w.mean() - eta), abs=1e-12)
    assert deep_embedded_validation(losses, np.ones(50)) == pytest.approx(-losses.mean().item(), abs=1e-12)


@pytest.fixture(scope="module")
def clusters():
    """Both domains: two tight clusters at x1 = -2 and x1 = +2, labelled by the sign of x1.

    Model B's boundary runs between the clusters; model A's through the right-hand cluster."""
    g = torch.Generator().manual_seed(3)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]], dtype=torch.float64)

    def draw(n):
        y = torch.randint(2, (n,), generator=g)
        return centres[y] + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64), y

    return draw(400), draw(400)


def boundary_logits(x, at, sharpness=3.0):
    z = sharpness * (x[:, 0] - at)
    return torch.stack([-z / 2, z / 2], dim=-1)


def test_information_maximization_prefers_the_boundary_through_low_density(clusters):
    (target_x, _), _ = clusters
    good, bad = boundary_logits(target_x, 0.0), boundary_logits(target_x, 2.0)
    assert information_maximization(good) > information_maximization(bad) + 0.2
    assert information_maximization(good) <= math.log(2) + 1e-12


def test_information_maximization_equals_its_formula_and_punishes_collapse():
    logits = torch.randn(30, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    p = logits.softmax(-1).numpy()
    mean = p.mean(0)
    by_hand = -(mean * np.log(mean)).sum() + (p * np.log(p)).sum(1).mean()
    assert information_maximization(logits) == pytest.approx(by_hand, abs=1e-12)
    collapsed = torch.tensor([[20.0, 0, 0, 0]] * 30, dtype=torch.float64)   # zero entropy, one class
    assert abs(information_maximization(collapsed)) < 1e-6


def test_reverse_validation_prefers_the_model_whose_pseudo_labels_teach_the_source(clusters):
    (target_x, _), (source_x, source_y) = clusters
    scores = {k: reverse_validation(target_x, boundary_logits(target_x, at), source_x, source_y)
              for k, at in (("good", 0.0), ("bad", 2.0))}
    assert scores["good"] > 0.95 and scores["good"] > scores["bad"] + 0.2
    one_label = torch.zeros(len(target_x), 2, dtype=torch.float64)
    assert reverse_validation(target_x, one_label, source_x, source_y) == 0.0


@pytest.mark.parametrize("call, words", [
    (lambda: importance_weighted_accuracy(np.ones(3), np.ones(4)), "one weight per validation example"),
    (lambda: deep_embedded_validation(np.ones(3), np.array([1.0, -1.0, 1.0])), "finite, >= 0"),
    (lambda: density_ratio(torch.ones(3, 2), torch.ones(3, 3)), "features"),
])
def test_bad_inputs_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()
