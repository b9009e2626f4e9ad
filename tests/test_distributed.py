"""metalib.distributed: two gloo processes under torchrun give the one-process meta-gradient and parameters."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import metalib
from metalib.distributed import Ranks
from metalib.multitask.training import MultiTaskStep
from metalib.tasks import Episode

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "data_parallel.py"
sys.path.insert(0, str(SCRIPT.parent))
from data_parallel import EXACT, compare  # noqa: E402

TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same steps in one process and in two (torchrun, gloo), saved by rank 0."""
    folder = tmp_path_factory.mktemp("data_parallel")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "METALIB_PROGRESS": "0"}
    env.pop("WORLD_SIZE", None)
    subprocess.run([sys.executable, str(SCRIPT), "--save", str(folder / "one.pt")], check=True, env=env, cwd=REPO,
                   timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(SCRIPT), "--save", str(folder / "two.pt")], check=True, env=env, cwd=REPO, timeout=300)
    one, two = (torch.load(folder / f) for f in ("one.pt", "two.pt"))
    assert (one["processes"], two["processes"]) == (1, 2)
    return one, two


@pytest.mark.parametrize("kind", EXACT)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_processes_give_the_one_process_gradient_and_parameters(runs, kind, dtype):
    gaps = compare(*runs)[f"{kind}/{dtype}"]
    assert gaps["scale"] > 1e-3                       # a gradient that is not trivially zero
    assert gaps["gradient"] <= TOLERANCE[dtype], gaps
    assert gaps["parameters"] <= TOLERANCE[dtype], gaps
    assert gaps.get("accuracy", 0.0) <= 1e-12, gaps  # the same test tasks, scored once each
    one, two = runs
    assert one[f"{kind}/{dtype}"]["losses"] == pytest.approx(two[f"{kind}/{dtype}"]["losses"], rel=1e-5)


def test_batch_norm_over_a_meta_batch_sees_only_its_process_tasks(runs):
    # Conv4's batch norm pools the statistics of all the tasks of a step: split, each process pools half.
    gaps = compare(*runs)["protonet_bn/float64"]
    assert gaps["gradient"] > 1e-3 * gaps["scale"]


def test_the_multitask_methods_differ(runs):
    one, _ = runs
    assert not torch.equal(one["multitask_equal/float64"]["parameters"], one["multitask_pcgrad/float64"]["parameters"])


def test_one_rank_changes_nothing():
    ranks = Ranks()
    episode = Episode(*(torch.zeros(4, 2) for _ in range(6)))
    assert ranks.shard(episode) is episode and ranks.part(7) == slice(0, 7)
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    ranks.average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    assert ranks.main


def test_parts_and_shards_of_a_meta_batch():
    second = Ranks(rank=1, world_size=2)
    assert second.part(32) == slice(16, 32) and second.split(5) == slice(2, 5) and not second.main
    episode = Episode(*(torch.arange(4)[:, None].expand(4, 3) for _ in range(6)))
    assert second.shard(episode).support_x[:, 0].tolist() == [2, 3]
    assert Ranks(rank=2, world_size=3).shard(Episode(*(torch.arange(5)[:, None] for _ in range(6))),
                                             even=False).classes.flatten().tolist() == [3, 4]
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        Ranks(rank=0, world_size=3).part(32)


def test_methods_that_do_not_split_are_refused():
    net = torch.nn.Linear(2, 2)
    for method in ("log_sum", "gradnorm", "dwa"):
        with pytest.raises(ValueError, match=f"{method} does not split over 2 processes"):
            MultiTaskStep([net.weight], [net.bias], method, ["regression"] * 2, ranks=Ranks(0, 2))
    with pytest.raises(ValueError, match="Gram path"):
        MultiTaskStep([net.weight], [net.bias], "pcgrad", ["regression"] * 2, trunk=net, heads=[net],
                      ranks=Ranks(0, 2))


def test_a_script_that_does_not_split_refuses_torchrun(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="torchrun started 2 processes, but this script does not split"):
        metalib.get_device("cpu")


def test_only_rank_zero_writes_results(monkeypatch, tmp_path):
    from metalib import distributed, results
    monkeypatch.setenv("METALIB_RESULTS", str(tmp_path))
    monkeypatch.setattr(distributed, "current", lambda: Ranks(rank=1, world_size=2))
    path = results.save_results("quiet", {"a": 1}, "cpu")
    assert not path.exists()
