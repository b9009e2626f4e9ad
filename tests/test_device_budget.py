"""Device selection, seeding and budgets."""
import pytest
import torch

import metalib
from metalib import budget


def test_device_defaults_to_cuda_when_present(monkeypatch):
    monkeypatch.delenv("METALIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert metalib.get_device().type == expected


def test_environment_overrides_device(monkeypatch):
    monkeypatch.setenv("METALIB_DEVICE", "cpu")
    assert metalib.get_device() == torch.device("cpu")


def test_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("METALIB_DEVICE", "gpu0")
    with pytest.raises(ValueError, match="'gpu0' is not a device PyTorch knows; use 'cpu', 'cuda'"):
        metalib.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_absent_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("METALIB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="PyTorch sees none on this machine; unset METALIB_DEVICE"):
        metalib.get_device()


def test_seed_everything_repeats_a_run():
    def run(seed):
        metalib.seed_everything(seed)
        net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(5):
            x = torch.randn(32, 3)
            loss = (net(x) - x.sum(1, keepdim=True)).pow(2).mean()
            opt.zero_grad(), loss.backward(), opt.step()
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_budget_is_default_unless_asked(monkeypatch):
    monkeypatch.delenv("METALIB_BUDGET", raising=False)
    assert budget.name() == "default" and budget.pick(default=1, full=2) == 1
    monkeypatch.setenv("METALIB_BUDGET", "FULL")
    assert budget.name() == "full" and budget.pick(default=1, full=2) == 2 and budget.is_full()


def test_unknown_budget_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("METALIB_BUDGET", "huge")
    with pytest.raises(ValueError, match="METALIB_BUDGET='huge' is not a budget; use one of default, full"):
        budget.pick(1, 2)
