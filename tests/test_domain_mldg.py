"""metalib.domain.mldg: the MLDG objective and its gradients, against the formulas written out."""
import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

from metalib.domain import MLDG


def setup(seed=0, domains=3):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(seed + 1)
    xs = [torch.randn(5, 4, generator=g, dtype=torch.float64) + i for i in range(domains)]
    ys = [torch.randint(3, (5,), generator=g) for _ in range(domains)]
    return model, xs, ys


def objective(model, params, xs, ys, meta_test, alpha, beta):
    """F(θ) + β G(θ − α ∇F(θ)), with torch.func.grad: an implementation independent of metalib's."""
    train_x = torch.cat([x for i, x in enumerate(xs) if i != meta_test])
    train_y = torch.cat([y for i, y in enumerate(ys) if i != meta_test])

    def f(p):
        return F.cross_entropy(functional_call(model, p, (train_x,)), train_y)

    stepped = {n: w - alpha * g for (n, w), g in zip(params.items(), grad(f)(params).values())}
    return f(params) + beta * F.cross_entropy(functional_call(model, stepped, (xs[meta_test],)), ys[meta_test])


@pytest.mark.parametrize("meta_test", [0, 2])
def test_the_objective_and_its_second_order_gradient_equal_the_formula(meta_test):
    model, xs, ys = setup()
    mldg = MLDG(model, inner_lr=0.3, beta=0.7)
    value = mldg(xs, ys, meta_test)
    params = dict(model.named_parameters())
    assert value.item() == pytest.approx(objective(model, params, xs, ys, meta_test, 0.3, 0.7).item(), abs=1e-12)
    ours = torch.autograd.grad(value, list(params.values()))
    detached = {n: p.detach() for n, p in params.items()}
    theirs = grad(lambda p: objective(model, p, xs, ys, meta_test, 0.3, 0.7))(detached)
    for a, b in zip(ours, theirs.values()):
        assert torch.allclose(a, b, atol=1e-12)


def test_first_order_drops_the_hessian_term_and_only_that():
    model, xs, ys = setup(seed=1)
    params = dict(model.named_parameters())
    value = MLDG(model, inner_lr=0.3, beta=0.7, first_order=True)(xs, ys, 1)
    ours = torch.autograd.grad(value, list(params.values()))
    # ∇F(θ) + β ∇G(θ'), θ' = θ − α ∇F(θ) taken as a constant point
    train_x, train_y = torch.cat([xs[0], xs[2]]), torch.cat([ys[0], ys[2]])
    detached = {n: p.detach() for n, p in params.items()}

    def f(p):
        return F.cross_entropy(functional_call(model, p, (train_x,)), train_y)

    def g(p):
        return F.cross_entropy(functional_call(model, p, (xs[1],)), ys[1])

    grad_f = grad(f)(detached)
    stepped = {n: w - 0.3 * grad_f[n] for n, w in detached.items()}
    grad_g = grad(g)(stepped)
    for a, n in zip(ours, detached):
        assert torch.allclose(a, grad_f[n] + 0.7 * grad_g[n], atol=1e-12)
    second = torch.autograd.grad(MLDG(model, inner_lr=0.3, beta=0.7)(xs, ys, 1), list(params.values()))
    assert max((a - b).abs().max().item() for a, b in zip(ours, second)) > 1e-6   # the term is there


@pytest.mark.parametrize("call, words", [
    (lambda m, xs, ys: MLDG(m)(xs[:1], ys[:1], 0), "at least two source domains"),
    (lambda m, xs, ys: MLDG(m)(xs, ys, 3), "meta_test must index"),
    (lambda m, xs, ys: MLDG(m, inner_lr=0.0), "inner_lr must be a positive number"),
    (lambda m, xs, ys: MLDG(m, beta=-1.0), "beta must be >= 0"),
])
def test_bad_arguments_are_named(call, words):
    model, xs, ys = setup()
    with pytest.raises(ValueError, match=words):
        call(model, xs, ys)
