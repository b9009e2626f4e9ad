"""FAMO (metalib.multitask.famo) against torchjd's, and inside MultiTaskStep."""
import pytest
import torch

from metalib.multitask import FAMO, HardSharing
from metalib.multitask.training import MultiTaskStep

torchjd = pytest.importorskip("torchjd")
from torchjd.scalarization import FAMO as TorchjdFAMO  # noqa: E402


def test_agrees_with_torchjd_over_many_updates():
    torch.set_default_dtype(torch.float64)
    try:
        ours, theirs = FAMO(3), TorchjdFAMO(3)
        g = torch.Generator().manual_seed(0)
        losses = torch.rand(3, generator=g, dtype=torch.float64) + 0.5
        for _ in range(30):
            x = losses.clone().requires_grad_(True)
            a, b = ours(x), theirs(x)
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
            ga, = torch.autograd.grad(a, x)
            gb, = torch.autograd.grad(theirs(x), x)
            assert torch.allclose(ga, gb, rtol=1e-12, atol=1e-12)
            after = losses * (0.5 + torch.rand(3, generator=g, dtype=torch.float64))
            ours.update(after)
            theirs.update(after)
            assert torch.allclose(ours.logits, theirs._w, rtol=1e-12, atol=1e-12)
            losses = after
        assert not torch.allclose(ours.weights(), torch.full((3,), 1 / 3))   # the weights moved
    finally:
        torch.set_default_dtype(torch.float32)


def test_the_step_direction_is_a_convex_combination_that_favours_small_losses():
    famo = FAMO(2)
    x = torch.tensor([0.1, 1.0], requires_grad=True)
    grad, = torch.autograd.grad(famo(x), x)   # c z_i / L_i
    assert torch.allclose(grad.sum(), torch.tensor(1.0)) and grad[0] > grad[1] > 0


def test_weight_moves_to_the_task_that_fell_least():
    famo = FAMO(2, lr=0.1)
    famo(torch.tensor([1.0, 1.0]))
    famo.update(torch.tensor([0.5, 0.99]))     # task 0 fell fast, task 1 barely
    z = famo.weights()
    assert z[1] > z[0]


def test_bad_use_is_named():
    famo = FAMO(2)
    with pytest.raises(RuntimeError, match="before famo.update"):
        famo.update(torch.ones(2))
    with pytest.raises(ValueError, match="positive losses"):
        famo(torch.tensor([1.0, -0.5]))
    net = HardSharing(torch.nn.Linear(3, 4), [torch.nn.Linear(4, 1) for _ in range(2)])
    step = MultiTaskStep(net.shared_parameters(), net.task_parameters(), "famo", ["regression"] * 2)
    x, y = torch.randn(8, 3), torch.randn(8, 2)

    def losses():
        return torch.stack([(o.squeeze(-1) - y[:, t]).pow(2).mean() for t, o in enumerate(net(x))])

    with pytest.raises(ValueError, match="FAMO needs step"):
        step.step(losses())
    before = [p.detach().clone() for p in net.parameters()]
    step.step(losses(), after=losses)
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert not torch.equal(step.weighting.logits.detach(), torch.zeros(2))
    other = MultiTaskStep(net.shared_parameters(), net.task_parameters(), "equal", ["regression"] * 2)
    with pytest.raises(ValueError, match="for FAMO only"):
        other.step(losses(), after=losses)
