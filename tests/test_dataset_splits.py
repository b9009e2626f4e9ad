"""FewShotDataset: validation of its parts, and class-disjoint splits along alphabets."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from metalib.data import FewShotDataset


def dataset_with_groups(group_sizes: list[int]) -> FewShotDataset:
    groups = [f"alphabet{g}" for g, n in enumerate(group_sizes) for _ in range(n)]
    images = torch.zeros(len(groups), 3, 2, 2, dtype=torch.uint8)
    return FewShotDataset.from_tensor("toy", images, groups=groups)


@settings(max_examples=200, deadline=None)
@given(group_sizes=st.lists(st.integers(1, 40), min_size=3, max_size=30),
       fractions=st.tuples(st.floats(0.05, 1), st.floats(0.05, 1), st.floats(0.05, 1)),
       seed=st.integers(0, 1000))
def test_splits_never_share_a_class_or_an_alphabet(group_sizes, fractions, seed):
    data = dataset_with_groups(group_sizes)
    parts = data.split(fractions, seed=seed)
    names = [set(p.class_names) for p in parts]
    alphabets = [set(p.groups) for p in parts]
    assert all(p.num_classes > 0 for p in parts)
    assert sum(len(n) for n in names) == data.num_classes
    assert set.union(*names) == set(data.class_names)
    for i in range(3):
        for j in range(i + 1, 3):
            assert not names[i] & names[j]
            assert not alphabets[i] & alphabets[j]


def test_split_follows_the_fractions_when_alphabets_allow():
    data = dataset_with_groups([10] * 20)  # 200 classes in 20 alphabets of 10
    train, val, test = data.split((0.6, 0.2, 0.2))
    assert (train.num_classes, val.num_classes, test.num_classes) == (120, 40, 40)
    assert train.name == "toy/train"
    again = data.split((0.6, 0.2, 0.2))
    assert again.test.class_names == test.class_names       # deterministic for a seed
    assert data.split((0.6, 0.2, 0.2), seed=1).test.class_names != test.class_names


def test_official_split_is_followed():
    data = dataset_with_groups([2, 3, 4])
    official = FewShotDataset(data.name, data.images, data.counts, data.class_names, data.groups,
                              {"alphabet0": "train", "alphabet1": "test", "alphabet2": "val"})
    train, val, test = official.split()
    assert set(train.groups) == {"alphabet0"} and set(val.groups) == {"alphabet2"} and set(test.groups) == {"alphabet1"}


def test_too_few_alphabets_is_a_clear_error():
    with pytest.raises(ValueError, match=r"2 group\(s\).*too few for 3 group-disjoint parts"):
        dataset_with_groups([5, 5]).split()
    train, val, test = dataset_with_groups([5, 5]).split((0.5, 0, 0.5))
    assert val.num_classes == 0 and train.num_classes == test.num_classes == 5


@pytest.mark.parametrize("images,counts,message", [
    (torch.zeros(3, 4, 2, 2), None, "uint8"),
    (torch.zeros(3, 4, 2, 2, dtype=torch.uint8), torch.tensor([4, 4]), "one entry per class"),
    (torch.zeros(3, 4, 2, 2, dtype=torch.uint8), torch.tensor([4, 5, 4]), "1..4"),
    (torch.zeros(3, 4, 2, 2, dtype=torch.uint8), torch.tensor([4, 0, 4]), "1..4"),
])
def test_malformed_datasets_are_refused(images, counts, message):
    with pytest.raises(ValueError, match=message):
        FewShotDataset.from_tensor("bad", images, counts=counts)


def test_examples_flattens_only_real_examples():
    images = torch.full((2, 3, 2, 2), 255, dtype=torch.uint8)
    data = FewShotDataset.from_tensor("toy", images, counts=torch.tensor([3, 1]))
    x, y = data.examples()
    assert x.shape == (4, 1, 2, 2) and y.tolist() == [0, 0, 0, 1] and float(x.min()) == 1.0
    assert len(data) == 4 and "2 classes" in repr(data)


def test_unknown_data_set_name_lists_the_known_ones():
    import metalib.data

    with pytest.raises(ValueError, match=r"unknown data set 'omniglott'.*glyphs, omniglot, omniglot-minimal, digits, font-digits"):
        metalib.data.load("omniglott")
