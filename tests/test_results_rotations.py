"""Stored results (metalib.results) and Omniglot's rotation augmentation (FewShotDataset.with_rotations)."""
import json
import re

import pytest
import torch

from metalib.data import FewShotDataset
from metalib.results import REPO, load_results, results_dir, save_results

from toys import numbered_dataset


# --------------------------------------------------------------------------------------------------
# metalib.results
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def results_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("METALIB_RESULTS", str(tmp_path))
    return tmp_path


def test_results_dir_defaults_to_the_repository_and_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("METALIB_RESULTS", raising=False)
    assert results_dir() == REPO / "results"
    monkeypatch.setenv("METALIB_RESULTS", str(tmp_path))
    assert results_dir() == tmp_path


def test_save_then_load_round_trips_the_results(results_in_tmp):
    figures = {"proto": {"5w1s": {"mean": 0.9731, "ci95": 0.0042, "n": 1000}}, "steps": 20000,
               "alphabets": ["Greek", "Latin"], "peak": None}
    path = save_results("sub/run", figures, "cpu", command="python experiments/x.py --steps 3")
    assert path == results_in_tmp / "sub" / "run.json"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]        # no temporary file left behind
    stored = load_results("sub/run")
    assert set(stored) == {"command", "environment", "results"}
    assert stored["results"] == figures
    assert stored["command"] == "python experiments/x.py --steps 3"
    assert stored == json.loads(path.read_text())


def test_saved_environment_names_the_device_and_versions(results_in_tmp):
    save_results("run", {"x": 1}, torch.device("cpu"))
    env = load_results("run")["environment"]
    assert {"device", "device_name", "python", "torch", "metalib", "git_commit", "date"} <= set(env)
    assert env["device"] == "cpu" and "CPU" in env["device_name"]
    assert env["torch"] == torch.__version__
    assert env["cuda"] is None


def test_the_commit_recorded_is_the_one_the_run_started_from(results_in_tmp, monkeypatch):
    # a commit made while a long run runs must not be credited with its figures: the state is read
    # once, when the run imports metalib.results, and saving asks git nothing
    import metalib.results as results

    def no_git(*args, **kwargs):
        raise AssertionError("save_results asked git for the state at save time")

    monkeypatch.setattr(results.subprocess, "run", no_git)
    save_results("run", {}, "cpu")
    env = load_results("run")["environment"]
    assert (env["git_commit"], env["git_dirty"]) == results.GIT_AT_START
    assert results.GIT_AT_START[0] is None or len(results.GIT_AT_START[0]) == 40


def test_command_defaults_to_this_process_command_line(results_in_tmp):
    save_results("run", {}, "cpu")
    assert isinstance(load_results("run")["command"], str) and load_results("run")["command"]


def test_saving_again_replaces_the_file(results_in_tmp):
    save_results("run", {"x": 1}, "cpu")
    save_results("run", {"x": 2}, "cpu")
    assert load_results("run")["results"] == {"x": 2}


def test_loading_a_run_never_stored_returns_none(results_in_tmp):
    assert load_results("never_stored") is None
    assert load_results("no/such/folder/run") is None


def test_invalid_json_is_a_value_error_naming_the_file(results_in_tmp):
    bad = results_in_tmp / "broken.json"
    bad.write_text('{"results": {"mean": 0.97,')          # cut short, as by a killed writer
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        load_results("broken")


# --------------------------------------------------------------------------------------------------
# FewShotDataset.with_rotations
# --------------------------------------------------------------------------------------------------
def random_dataset(num_classes=6, examples=3, side=5, groups=None, counts=None, seed=0) -> FewShotDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (num_classes, examples, side, side), generator=g, dtype=torch.uint8)
    return FewShotDataset.from_tensor("random", images, groups=groups, counts=counts)


def test_rotations_multiply_the_classes_by_four():
    data = random_dataset(num_classes=6, counts=torch.tensor([3, 1, 2, 3, 3, 2]))
    rotated = data.with_rotations()
    C = data.num_classes
    assert rotated.num_classes == 4 * C
    assert rotated.images.shape == (4 * C, *data.images.shape[1:])
    assert rotated.images.dtype == torch.uint8
    assert torch.equal(rotated.counts, data.counts.repeat(4))
    assert rotated.class_names[:C] == data.class_names
    assert rotated.class_names[C] == f"{data.class_names[0]}@90"
    assert rotated.class_names[3 * C + 5] == f"{data.class_names[5]}@270"
    assert len(set(rotated.class_names)) == 4 * C


def test_class_k_times_c_plus_c_is_class_c_turned_k_times():
    data = random_dataset(num_classes=5, examples=4, side=7)
    rotated = data.with_rotations()
    C = data.num_classes
    for k in range(4):
        for c in range(C):
            expected = torch.rot90(data.images[c], k, dims=(1, 2))
            assert torch.equal(rotated.images[k * C + c], expected), (k, c)
    # a quarter turn is not the identity on these images, so the check above has teeth
    assert not torch.equal(rotated.images[C], rotated.images[0])


def test_chosen_turns_follow_their_order():
    data = numbered_dataset(3, 2)
    rotated = data.with_rotations((1, 3))
    assert rotated.num_classes == 6
    for k, turns in enumerate((1, 3)):
        for c in range(3):
            assert torch.equal(rotated.images[k * 3 + c], torch.rot90(data.images[c], turns, dims=(1, 2)))
    assert rotated.class_names[0].endswith("@90") and rotated.class_names[3].endswith("@270")


def test_rotations_keep_groups_and_splits_never_separate_a_character():
    groups = ["a", "a", "b", "b", "b", "c", "d", "d", "e", "e"]
    data = numbered_dataset(len(groups), 4, groups=groups)
    rotated = data.with_rotations()
    assert rotated.groups == tuple(groups) * 4
    assert rotated.alphabets == data.alphabets
    for seed in range(5):
        parts = rotated.split(fractions=(0.6, 0.2, 0.2), seed=seed)
        assert sum(p.num_classes for p in parts) == rotated.num_classes
        part_of = {}
        for i, part in enumerate(parts):
            for name in part.class_names:
                part_of.setdefault(name.split("@")[0], set()).add(i)
            # every rotation of every character in this part is in this part
            bases = {n.split("@")[0] for n in part.class_names}
            assert part.num_classes == 4 * len(bases)
        assert all(len(p) == 1 for p in part_of.values())
        assert set(part_of) == set(data.class_names)


def test_rotations_keep_an_official_split():
    data = numbered_dataset(4, 2, groups=["a", "a", "b", "c"])
    data = FewShotDataset(data.name, data.images, data.counts, data.class_names, data.groups,
                          {"a": "train", "b": "val", "c": "test"})
    train, val, test = data.with_rotations().split()
    assert (train.num_classes, val.num_classes, test.num_classes) == (8, 4, 4)
    assert set(train.groups) == {"a"} and set(test.groups) == {"c"}


@pytest.mark.parametrize("turns", [(0, 1, 1), (0, 4), (1, -3), ()])
def test_repeated_or_missing_turns_are_rejected(turns):
    with pytest.raises(ValueError, match="distinct numbers of 90-degree turns"):
        numbered_dataset(3, 2).with_rotations(turns)
