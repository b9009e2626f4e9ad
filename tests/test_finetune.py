"""Batched fine-tuning (metalib.finetune.adapt) against a plain per-task loop, in float64."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from metalib.finetune import adapt, parameters_of, predict


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def loop_adapt(model, params, x, y, steps, lr, create_graph):
    """The reference: one task at a time, with torch.autograd.grad."""
    out = []
    for b in range(x.shape[0]):
        p = dict(params)
        for _ in range(steps):
            loss = F.mse_loss(torch.func.functional_call(model, p, (x[b],)), y[b])
            grads = torch.autograd.grad(loss, list(p.values()), create_graph=create_graph)
            p = {n: w - lr * g for (n, w), g in zip(p.items(), grads)}
        out.append(p)
    return {n: torch.stack([o[n] for o in out]) for n in params}


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_adapt_equals_a_loop_over_tasks(steps):
    model = mlp()
    params = parameters_of(model)
    x = torch.randn(5, 7, 1, dtype=torch.float64)
    y = torch.sin(x)
    fast = adapt(model, params, x, y, steps=steps, lr=0.1)
    ref = loop_adapt(model, params, x, y, steps, 0.1, create_graph=False)
    for n in params:
        assert fast[n].shape == (5, *params[n].shape)
        torch.testing.assert_close(fast[n], ref[n].detach(), rtol=1e-12, atol=1e-12)


def test_second_order_meta_gradient_equals_the_loop():
    model = mlp()
    params = parameters_of(model)
    x, qx = torch.randn(4, 5, 1, dtype=torch.float64), torch.randn(4, 9, 1, dtype=torch.float64)
    y, qy = torch.sin(3 * x), torch.sin(3 * qx)

    def meta_grad(fast):
        loss = F.mse_loss(predict(model, fast, qx), qy)
        return torch.autograd.grad(loss, list(params.values()))

    ours = meta_grad(adapt(model, params, x, y, steps=2, lr=0.3, differentiable=True))
    ref = meta_grad(loop_adapt(model, params, x, y, 2, 0.3, create_graph=True))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_not_differentiable_unless_asked():
    model = mlp()
    params = parameters_of(model)
    x = torch.randn(2, 3, 1, dtype=torch.float64)
    fast = adapt(model, params, x, x, steps=1, lr=0.1)
    assert all(not w.requires_grad for w in fast.values())


def test_bad_arguments_are_clear_errors():
    model = mlp()
    params = parameters_of(model)
    x = torch.randn(2, 3, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="learning rate must be positive, got -0.1"):
        adapt(model, params, x, x, steps=1, lr=-0.1)
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        adapt(model, params, x, x, steps=-1, lr=0.1)
    with pytest.raises(ValueError, match="same tasks, got 2 and 1"):
        adapt(model, params, x, x[:1], steps=1, lr=0.1)
