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

    before = [p.detach().clone() for p in net.parameters()]
    step.step(losses(), after=losses)
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert not torch.equal(step.weighting.logits.detach(), torch.zeros(2))
    other = MultiTaskStep(net.shared_parameters(), net.task_parameters(), "equal", ["regression"] * 2)
    with pytest.raises(ValueError, match="for FAMO only"):
        other.step(losses(), after=losses)


def _two_task_run(after: bool, batch: int | None, steps: int = 150):
    """Two regression tasks on one input: task 0 learnable, task 1 pure noise (its loss cannot fall)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 4, generator=g)
    y = torch.stack([x @ torch.tensor([1.0, -2.0, 0.5, 3.0]), torch.randn(512, generator=g)], 1)
    torch.manual_seed(0)
    net = HardSharing(torch.nn.Linear(4, 8), [torch.nn.Linear(8, 1) for _ in range(2)])
    step = MultiTaskStep(net.shared_parameters(), net.task_parameters(), "famo", ["regression"] * 2,
                         lr=1e-2)
    for _ in range(steps):
        rows = torch.arange(512) if batch is None else torch.randint(512, (batch,), generator=g)

        def losses():
            return torch.stack([(o.squeeze(-1) - y[rows, t]).pow(2).mean()
                                for t, o in enumerate(net(x[rows]))])
        step.step(losses(), after=losses if after else None)
    return net, step.weighting, losses


def test_next_step_update_is_the_same_algorithm_on_a_fixed_batch():
    net_a, famo_a, _ = _two_task_run(after=True, batch=None)
    net_b, famo_b, losses = _two_task_run(after=False, batch=None)
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert famo_b.waiting and not famo_a.waiting    # its last update waits for a next step
    with torch.no_grad():
        famo_b.update(losses())
    torch.testing.assert_close(famo_a.logits, famo_b.logits, rtol=1e-6, atol=1e-7)
    assert famo_a.weights()[1] > 0.9                # the weight went to the noise task


def test_with_mini_batches_both_orders_move_weight_to_the_task_that_cannot_fall():
    for after in (True, False):
        _, famo, _ = _two_task_run(after=after, batch=32)
        assert famo.weights()[1] > 0.6, (after, famo.weights())
