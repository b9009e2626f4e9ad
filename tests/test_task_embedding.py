"""metalib.task_embedding: CAVIA's inner loop and meta-gradient."""
import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch
from torch import nn

from metalib.task_embedding import CAVIA


def model(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1 + 3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    return CAVIA(net, context_dim=3, inner_lr=0.5, inner_steps=2)


def tasks(b=4, k=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, k, 1, generator=g, dtype=torch.float64) * 10 - 5
    amplitude = torch.rand(b, 1, 1, generator=g, dtype=torch.float64) * 4 + 1
    return x, amplitude * torch.sin(x)


def test_the_inner_loop_is_gradient_descent_on_each_task_alone():
    cavia = model()
    x, y = tasks()
    batched = cavia.adapt(x, y)
    for b in range(4):  # task b alone, written out
        phi = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
        for _ in range(2):
            loss = ((cavia.predict(phi, x[b:b + 1]) - y[b:b + 1]) ** 2).mean()
            (g,) = torch.autograd.grad(loss, phi, create_graph=True)
            phi = phi - 0.5 * g
        assert torch.allclose(batched[b], phi[0], atol=1e-12)


def test_adaptation_leaves_the_network_alone_and_the_meta_gradient_reaches_it():
    cavia = model()
    x, y = tasks()
    before = [p.detach().clone() for p in cavia.parameters()]
    query = cavia(x, y, x)
    assert all(torch.equal(a, p) for a, p in zip(before, cavia.parameters()))
    ((query - y) ** 2).mean().backward()
    second = [p.grad.clone() for p in cavia.parameters()]
    assert all(g.abs().sum() > 0 for g in second)
    cavia.zero_grad()
    cavia.first_order = True
    ((cavia(x, y, x) - y) ** 2).mean().backward()
    assert any(not torch.allclose(a, p.grad) for a, p in zip(second, cavia.parameters()))  # 2nd-order terms


def test_the_context_lowers_the_support_loss_and_bad_arguments_are_named():
    cavia = model()
    x, y = tasks()
    zero = cavia.task_losses(torch.zeros(4, 3, dtype=torch.float64), x, y)
    adapted = cavia.task_losses(cavia.adapt(x, y).detach(), x, y)
    assert (adapted < zero).all()
    with pytest.raises(ValueError, match="context_dim must be a positive integer"):
        CAVIA(nn.Linear(2, 1), context_dim=0)
    with pytest.raises(ValueError, match=r"support_x \[B, K, d\]"):
        cavia.adapt(x[0], y[0])
