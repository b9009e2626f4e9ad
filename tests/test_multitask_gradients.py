"""Gradient combination (metalib.multitask: mean, PCGrad, MGDA, IMTL-G, CAGrad) and the batched Jacobian.

Golden values on torchjd's conflicting Jacobian, a cross-check against torchjd in float64, and
properties that hold for any gradients (hypothesis).
"""
import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
from hypothesis import given, settings, strategies as st

from metalib.multitask import (AGGREGATORS, cagrad, cagrad_weights, imtl_g, mean_gradient, mgda, mgda_weights,
                               pcgrad, task_jacobian, task_jacobian_loop, write_gradients)
from metalib.multitask.gramian import LinearGramian
from metalib.multitask.simplex import faces
from metalib.multitask.training import GRAM_WEIGHTS, MultiTaskStep

torchjd = pytest.importorskip("torchjd")
from torchjd import aggregation  # noqa: E402

CONFLICT = torch.tensor([[-4.0, 1, 1], [6, 1, 1]], dtype=torch.float64)


@pytest.mark.parametrize("method, expected", [
    (mean_gradient, [1, 1, 1]),
    (mgda, [0, 1, 1]),
    (pcgrad, [0.5848, 3.8012, 3.8012]),
    (imtl_g, [0.0767, 1, 1]),
    (lambda j: cagrad(j, c=0.5, rescale=False), [0.1835, 1.2041, 1.2041]),
])
def test_golden_values_on_the_conflicting_jacobian(method, expected):
    assert torch.allclose(method(CONFLICT), torch.tensor(expected, dtype=torch.float64), atol=1e-4)


def test_mgda_weights_on_the_conflicting_jacobian():
    assert torch.allclose(mgda_weights(CONFLICT @ CONFLICT.T), torch.tensor([0.6, 0.4], dtype=torch.float64), atol=1e-12)


def random_jacobian(seed, tasks, params=20):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tasks, params, dtype=torch.float64, generator=g) + 0.5 * torch.randn(1, params, dtype=torch.float64, generator=g)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("tasks", [2, 3, 4, 6])
def test_agrees_with_torchjd_to_1e10(seed, tasks):
    """Mean, IMTL-G and PCGrad (same random visiting order) agree to 1e-10 for any T; MGDA too where
    torchjd's Frank-Wolfe iterations converge (checked below where they do not)."""
    j = random_jacobian(seed, tasks)
    assert (mean_gradient(j) - aggregation.Mean()(j)).abs().max() < 1e-10
    assert (imtl_g(j) - aggregation.IMTLG()(j)).abs().max() < 1e-10
    torch.manual_seed(seed)
    theirs = aggregation.PCGrad()(j)
    torch.manual_seed(seed)
    assert (pcgrad(j) - theirs).abs().max() < 1e-10
    if tasks <= 3:
        assert (mgda(j) - aggregation.MGDA(epsilon=1e-30, max_iters=2_000)(j)).abs().max() < 1e-10


def kkt_gap(gram, w):
    """MGDA's optimality: (G w)_j >= wᵀ G w for every task (equality on the support)."""
    return float(((gram @ w) - w @ gram @ w).min())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tasks", [4, 8])
def test_mgda_is_exact_where_frank_wolfe_stops_short(seed, tasks):
    j = random_jacobian(seed, tasks)
    gram = j @ j.T
    ours = mgda_weights(gram)
    theirs = aggregation.MGDAWeighting(epsilon=1e-30, max_iters=5_000)(gram)
    assert kkt_gap(gram, ours) > -1e-12
    assert ours @ gram @ ours <= theirs @ gram @ theirs + 1e-12


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tasks", [2, 3, 5])
def test_cagrad_reaches_torchjd_dual_optimum_or_better(seed, tasks):
    """torchjd solves CAGrad's dual with an interior-point solver (CLARABEL, about 1e-8 in the objective);
    ours is exact, so we check that our dual objective is at least as low and the updates are close."""
    j = random_jacobian(seed, tasks)
    gram = j @ j.T
    b = gram.sum(1) / tasks
    root_phi = 0.5 * (b.sum() / tasks).sqrt()

    def dual(v):
        w = (v - 1 / tasks) / (v - 1 / tasks).sum()
        return float(w @ b + root_phi * (w @ gram @ w).sqrt())

    ours, theirs = cagrad_weights(gram, 0.5), aggregation.CAGradWeighting(c=0.5, norm_eps=0)(gram)
    assert dual(ours) <= dual(theirs) + 1e-12
    assert (ours @ j - theirs @ j).abs().max() < 1e-3 * (theirs @ j).abs().max()


tasks_and_seed = st.tuples(st.integers(2, 6), st.integers(0, 10 ** 6))


@settings(max_examples=60, deadline=None)
@given(tasks_and_seed, st.randoms(use_true_random=False))
def test_permuting_the_tasks_does_not_change_the_update(ts, rnd):
    tasks, seed = ts
    j = random_jacobian(seed, tasks, params=7)
    order = list(range(tasks))
    rnd.shuffle(order)
    for name, method in AGGREGATORS.items():
        if name == "pcgrad" and tasks > 2:
            continue  # its random visiting order makes it permutation-invariant only in distribution
        assert torch.allclose(method(j), method(j[order]), atol=1e-7, rtol=1e-7), name


@settings(max_examples=100, deadline=None)
@given(tasks_and_seed)
def test_mgda_never_conflicts_with_a_task(ts):
    tasks, seed = ts
    j = random_jacobian(seed, tasks, params=5)
    d = mgda(j)
    assert (j @ d >= d @ d - 1e-9).all()  # g_i · d >= ‖d‖² >= 0 (Sener & Koltun's optimality condition)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10 ** 6))
def test_pcgrad_never_conflicts_for_two_tasks(seed):
    j = random_jacobian(seed, 2, params=5)
    assert (j @ pcgrad(j) >= -1e-9).all()  # Yu et al.: with two tasks, g_i^PC · g_j >= 0


@settings(max_examples=60, deadline=None)
@given(tasks_and_seed, st.floats(1e-3, 1e4))
def test_imtl_g_does_not_see_a_task_scaled(ts, scale):
    tasks, seed = ts
    j = random_jacobian(seed, tasks, params=9)
    scaled = j.clone()
    scaled[0] *= scale
    cosine = torch.nn.functional.cosine_similarity(imtl_g(scaled), imtl_g(j), dim=0)
    assert cosine.abs() > 1 - 1e-9  # the same line (its length, and with T > 2 its sign, may change)
    assert torch.allclose(mgda(scaled), mgda(scaled[torch.randperm(tasks)]), atol=1e-7)
    if scale > 1.01 or scale < 0.99:
        assert not torch.allclose(mean_gradient(scaled), mean_gradient(j), rtol=1e-3)


def test_pcgrad_changes_nothing_when_no_gradients_conflict():
    j = torch.tensor([[1.0, 2, 0], [0.5, 1, 1]], dtype=torch.float64)
    assert torch.allclose(pcgrad(j), j.sum(0))


@pytest.mark.parametrize("seed", range(5))
def test_cagrad_with_c_zero_is_the_mean_and_never_worse_in_the_worst_task(seed):
    j = random_jacobian(seed, 3)
    mean = mean_gradient(j)
    assert torch.allclose(cagrad(j, c=0.0), mean, atol=1e-10)
    for c in (0.2, 0.5, 0.9):
        d = cagrad(j, c)
        assert (d - mean).norm() <= c * mean.norm() + 1e-9  # inside the ball around the mean
        assert (j @ d).min() >= (j @ mean).min() - 1e-9  # the mean is in the ball: d does at least as well


def test_faces_are_every_non_empty_subset():
    f = faces(4)
    assert f.shape == (15, 4) and len({tuple(r.tolist()) for r in f}) == 15 and f.any(1).all()


def test_dependent_gradients_and_a_zero_gradient():
    j = torch.tensor([[1.0, 0], [2.0, 0], [0, 0]], dtype=torch.float64)  # parallel rows and a zero row
    assert torch.allclose(mgda(j), torch.zeros(2, dtype=torch.float64))  # Pareto stationary: 0 in the hull
    assert torch.allclose(cagrad(j), torch.zeros(2, dtype=torch.float64))
    assert torch.isfinite(imtl_g(j)).all() and torch.isfinite(pcgrad(j)).all()


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3), "expected a Jacobian"),
    (torch.tensor([[1.0, float("nan")], [0, 1]]), r"tasks \[0\] hold NaN"),
])
def test_bad_jacobians_are_named(bad, message):
    for method in AGGREGATORS.values():
        with pytest.raises(ValueError, match=message):
            method(bad)


@pytest.mark.parametrize("bad, message", [
    (torch.ones(2, 3), "expected a square Gram matrix"),
    (torch.tensor([[1.0, float("inf")], [float("inf"), 1]]), "NaN or infinite"),
    (torch.eye(3).index_fill(0, torch.tensor([1]), float("nan")), "NaN or infinite"),
])
def test_bad_gram_matrices_are_named(bad, message):
    for name, weights in GRAM_WEIGHTS.items():
        if name != "mean":
            with pytest.raises(ValueError, match=message):
                weights(bad)


def test_too_many_tasks_for_the_exact_solvers_names_the_fix():
    for weights in (mgda_weights, cagrad_weights):
        with pytest.raises(ValueError, match="handles 1 to 12 tasks, got 13; group the tasks"):
            weights(torch.eye(13))


def test_cagrad_rejects_a_negative_radius():
    with pytest.raises(ValueError, match="c must be a number >= 0"):
        cagrad(CONFLICT, c=-1)


def test_batched_jacobian_equals_t_backward_passes():
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
    heads = [torch.nn.Linear(4, 1) for _ in range(3)]
    x = torch.randn(16, 5)
    z = trunk(x)
    losses = torch.stack([h(z).pow(2).mean() for h in heads])
    params = list(trunk.parameters())
    fast = task_jacobian(losses, params, retain_graph=True)
    slow = task_jacobian_loop(losses, params)
    assert fast.shape == (3, sum(p.numel() for p in params))
    assert torch.allclose(fast, slow, atol=1e-6)


def test_write_gradients_round_trip_and_error():
    params = [torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(4))]
    flat = torch.arange(10.0)
    write_gradients(params, flat)
    assert torch.equal(params[0].grad.flatten(), flat[:6]) and torch.equal(params[1].grad, flat[6:])
    write_gradients(params, flat, accumulate=True)
    assert torch.equal(params[1].grad, 2 * flat[6:])
    with pytest.raises(ValueError, match="hold 10 numbers"):
        write_gradients(params, torch.zeros(9))


def glyph_like_model(tasks=3):
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 9), torch.nn.ReLU(),
                                torch.nn.Linear(9, 5), torch.nn.Tanh())
    heads = torch.nn.ModuleList(torch.nn.Linear(5, 2) for _ in range(tasks))
    return trunk.double(), heads.double()


def test_linear_gramian_is_j_jt_without_j():
    trunk, heads = glyph_like_model()
    hooks = LinearGramian(trunk, heads)
    x = torch.randn(16, 3, 4, dtype=torch.float64)
    z = trunk(x)
    losses = torch.stack([h(z).pow(2).mean() * (i + 1) for i, h in enumerate(heads)])
    gram, dz, head_grads = hooks.gramian(losses)
    jac = task_jacobian(losses, list(trunk.parameters()), retain_graph=True)
    assert torch.allclose(gram, jac @ jac.T, rtol=1e-12, atol=1e-12)
    own = torch.autograd.grad(losses[0], list(heads[0].parameters()), retain_graph=True)
    assert all(torch.allclose(a, b) for a, b in zip(head_grads[:2], own))  # head 0: task 0's gradient
    with pytest.raises(ValueError, match="nn.Linear layers"):
        LinearGramian(torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3)), [])
    with torch.no_grad():
        trunk(x)  # any new forward pass, even without gradients, clears what was recorded
    with pytest.raises(RuntimeError, match="run the trunk forward"):
        hooks.gramian(losses)


@pytest.mark.parametrize("method", ["mean", "pcgrad", "mgda", "imtl_g", "cagrad"])
def test_gramian_step_equals_jacobian_step(method):
    grads = []
    for use_trunk in (False, True):
        trunk, heads = glyph_like_model()
        step = MultiTaskStep(list(trunk.parameters()), list(heads.parameters()),
                             "pcgrad" if method == "mean" else method, ["regression"] * 3,
                             trunk=trunk if use_trunk else None, heads=heads if use_trunk else None)
        if method == "mean":
            step.aggregator = AGGREGATORS["mean"]
            step.method = "mean"
        x = torch.randn(16, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        z = trunk(x)
        losses = torch.stack([(h(z) - i).pow(2).mean() for i, h in enumerate(heads)])
        step.optimizer.step = lambda: None  # compare the gradients, not Adam's step
        torch.manual_seed(5)  # PCGrad's visiting order
        step.step(losses)
        grads.append([p.grad.clone() for p in [*trunk.parameters(), *heads.parameters()]])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
