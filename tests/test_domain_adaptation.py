"""metalib.domain.adaptation: the shared loop, on the rotated two moons.

Measured here (source 400 moons, target 400 moons rotated by 20 degrees, scored on 1,000 fresh
rotated ones; features MLP [2, 32, 32], batch 128, Adam 1e-3; seeds 0, 1, 2): source only 0.90,
0.90, 0.91. At the weights below: MMD 0.99, 0.99, 0.99 (1,500 steps); Deep CORAL (weight 100)
0.98, 0.98, 0.98; the mean teacher (Gaussian noise 0.05 for student and teacher, the paper's
threshold 0.968) 0.98, 0.98, 0.98, against 0.92, 0.93, 0.92 for the same augmentation alone (with
noise 0.1 the augmentation alone reached 0.97: the toy's gap is small enough for noise to close,
so the mean teacher is compared with its augmentation, not with plain source-only); entropy
minimisation 1.00, 0.99, 1.00; DANN (3,000 steps) 0.99, 0.98, 0.96. DANN at 1,500 steps was
erratic (0.92, 0.81, 0.98), and at 30 degrees every feature-alignment method was (MMD 0.66 to 0.99
by seed; marginal alignment can match the wrong moons), so the test uses 20 degrees and seed 0.
"""
import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
from torch import nn

from metalib.backbones import MLP
from metalib.data.moons import rotated_moons
from metalib.domain import (CORALLoss, DANNLoss, EntropyMinimization, FeatureClassifier, MeanTeacher, MMDLoss,
                            accuracy, gaussian_noise, train_adaptation)

ANGLE = 20


@pytest.fixture(scope="module")
def moons():
    return rotated_moons(400, 0, seed=0), rotated_moons(400, ANGLE, seed=1), rotated_moons(1000, ANGLE, seed=2)


def classifier(seed=0):
    torch.manual_seed(seed)
    return FeatureClassifier(MLP([2, 32, 32], flatten_input=False), nn.Linear(32, 2))


METHODS = {   # name: (loss module for a model, weight, steps, augmentation)
    "MMD": (lambda model: MMDLoss(), 1.0, 1500, None),
    "Deep CORAL": (lambda model: CORALLoss(), 100.0, 1500, None),
    "mean teacher": (lambda model: MeanTeacher(model, gaussian_noise(0.05)), 1.0, 1500, gaussian_noise(0.05)),
    "entropy minimisation": (lambda model: EntropyMinimization(), 1.0, 1500, None),
    "DANN": (lambda model: DANNLoss(32), 1.0, 3000, None),
}


@pytest.fixture(scope="module")
def source_only(moons):
    (xs, ys), _, (x_test, y_test) = moons
    model = classifier()
    train_adaptation(model, xs, ys, steps=1500, batch_size=128, progress=False)
    return accuracy(model, x_test, y_test)


def test_the_rotation_costs_source_only_training_accuracy(moons, source_only):
    (xs, ys), _, _ = moons
    model = classifier()
    train_adaptation(model, xs, ys, steps=1500, batch_size=128, progress=False)
    held_out = rotated_moons(1000, 0, seed=3)
    assert accuracy(model, *held_out) > 0.99 and source_only < 0.94   # measured 1.00 and 0.90


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_closes_the_rotation_and_at_weight_zero_it_is_source_only(moons, source_only, name):
    (xs, ys), (xt, _), (x_test, y_test) = moons
    make, weight, steps, augment = METHODS[name]
    accuracies = {}
    for w in (weight, 0.0):
        model = classifier()
        train_adaptation(model, xs, ys, xt, make(model), weight=w, steps=steps, batch_size=128, augment=augment,
                         progress=False)
        accuracies[w] = accuracy(model, x_test, y_test)
    assert accuracies[weight] >= max(0.95, source_only + 0.04), accuracies
    # weight 0 is source-only training (with the mean teacher's augmentation, which alone gains 2 points)
    assert accuracies[0.0] < min(0.95, accuracies[weight] - 0.03), accuracies


def test_at_weight_zero_the_model_follows_source_only_training_step_for_step(moons):
    (xs, ys), (xt, _), _ = moons
    plain, zero = classifier(), classifier()
    train_adaptation(plain, xs, ys, steps=100, batch_size=128, progress=False)
    train_adaptation(zero, xs, ys, xt, MMDLoss(), weight=0.0, steps=100, batch_size=128, progress=False)
    for a, b in zip(plain.parameters(), zero.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_the_method_s_own_parameters_train_with_the_model(moons):
    (xs, ys), (xt, _), _ = moons
    model, loss = classifier(), DANNLoss(32)
    before = [p.detach().clone() for p in loss.parameters()]
    losses = train_adaptation(model, xs, ys, xt, loss, steps=20, batch_size=32, progress=False)
    assert len(losses) == 20 and all(l == l for l in losses)
    assert all(not torch.equal(a, b) for a, b in zip(before, loss.parameters()))
    assert loss.reversal.scale == pytest.approx(loss.final_scale * 0.9999, abs=1e-3)   # Ganin's schedule ran


@pytest.mark.parametrize("call, words", [
    (lambda m, x, y: train_adaptation(m, x, y[:-1]), "same examples"),
    (lambda m, x, y: train_adaptation(m, x, y, torch.ones(5, 3)), "the source's shape"),
    (lambda m, x, y: train_adaptation(m, x, y, None, MMDLoss()), "needs target_x"),
    (lambda m, x, y: train_adaptation(m, x, y, x, MMDLoss(), weight=-1.0), "weight must be a number >= 0"),
    (lambda m, x, y: train_adaptation(m, x.clone().fill_(float("nan")), y), "NaN or infinite"),
])
def test_bad_inputs_are_named_and_train_nothing(moons, call, words):
    (xs, ys), _, _ = moons
    model = classifier()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=words):
        call(model, xs, ys)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
