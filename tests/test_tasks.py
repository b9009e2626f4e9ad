"""Episodic sampling: the shape of every task, and what it must never do."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from metalib.tasks import EpisodeSampler
from toys import numbered_dataset


def identities(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = (x[..., 0, 0, :2] * 255).round().long()
    return pixels[..., 0], pixels[..., 1]


@st.composite
def sampling_problems(draw):
    num_classes = draw(st.integers(2, 30))
    max_examples = draw(st.integers(2, 25))
    counts = draw(st.lists(st.integers(2, max_examples), min_size=num_classes, max_size=num_classes))
    n_way = draw(st.integers(1, num_classes))
    k_shot = draw(st.integers(1, min(counts) - 1))
    n_query = draw(st.integers(0, min(counts) - k_shot))
    batch = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    return num_classes, max_examples, counts, n_way, k_shot, n_query, batch, seed


@settings(max_examples=150, deadline=None)
@given(sampling_problems())
def test_every_task_has_n_classes_with_k_plus_q_distinct_examples(problem):
    num_classes, max_examples, counts, n, k, q, batch, seed = problem
    data = numbered_dataset(num_classes, max_examples, counts)
    ep = EpisodeSampler(data, n, k, q, device="cpu", seed=seed).sample(batch)

    assert ep.support_x.shape == (batch, n * k, 1, 4, 4)
    assert ep.query_x.shape == (batch, n * q, 1, 4, 4)
    s_cls, s_ex = identities(ep.support_x)
    q_cls, q_ex = identities(ep.query_x)
    counts_t = torch.as_tensor(counts)
    for b in range(batch):
        # N distinct classes, label j <-> classes[b, j]
        assert len(set(ep.classes[b].tolist())) == n
        assert torch.equal(ep.classes[b][ep.support_y[b]], s_cls[b])
        assert torch.equal(ep.classes[b][ep.query_y[b]], q_cls[b])
        for label in range(n):
            c = int(ep.classes[b, label])
            support = s_ex[b][ep.support_y[b] == label].tolist()
            query = q_ex[b][ep.query_y[b] == label].tolist()
            assert len(support) == k and len(query) == q
            # K + Q distinct real examples: none repeated, none padding, support and query disjoint
            assert len(set(support + query)) == k + q
            assert max(support + query) < int(counts_t[c])


def test_labels_are_a_random_relabelling_and_seeds_repeat():
    data = numbered_dataset(20, 5)
    a = EpisodeSampler(data, 5, 1, 2, device="cpu", seed=3).sample(50)
    b = EpisodeSampler(data, 5, 1, 2, device="cpu", seed=3).sample(50)
    c = EpisodeSampler(data, 5, 1, 2, device="cpu", seed=4).sample(50)
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.classes, b.classes)
    assert not torch.equal(a.classes, c.classes)
    # label 0 is not always the smallest class index: the relabelling is random
    assert (a.classes[:, 0] != a.classes.min(dim=1).values).any()
    # every class of the data set gets drawn over many tasks
    assert set(a.classes.flatten().tolist()) == set(range(20))


def test_batch_is_built_without_per_example_python_work():
    """A 32-task batch of 20-way 5-shot tasks with 15 queries arrives as single tensors."""
    data = numbered_dataset(100, 20)
    ep = EpisodeSampler(data, 20, 5, 15, device="cpu").sample(32)
    assert ep.support_x.shape == (32, 100, 1, 4, 4) and ep.query_y.shape == (32, 300)
    assert ep.support_x.dtype == torch.float32 and 0 <= float(ep.support_x.min()) <= float(ep.support_x.max()) <= 1


def test_n_way_larger_than_classes_is_a_clear_error():
    with pytest.raises(ValueError, match=r"10-way tasks need 10 classes but numbered has only 6; use n_way <= 6"):
        EpisodeSampler(numbered_dataset(6, 20), n_way=10, k_shot=1, n_query=1, device="cpu")


def test_k_plus_q_larger_than_a_class_is_a_clear_error():
    data = numbered_dataset(6, 20, counts=[20, 20, 7, 20, 20, 20])
    with pytest.raises(ValueError, match=r"5 \+ 5 = 10 examples per class, but class 'class0002'.*only 7"):
        EpisodeSampler(data, n_way=2, k_shot=5, n_query=5, device="cpu")


@pytest.mark.parametrize("field,value", [("n_way", 0), ("k_shot", 0), ("n_query", -1), ("n_way", 2.5),
                                         ("k_shot", True)])
def test_impossible_shapes_are_refused(field, value):
    args = dict(n_way=2, k_shot=1, n_query=1)
    args[field] = value
    with pytest.raises(ValueError, match=field):
        EpisodeSampler(numbered_dataset(6, 20), device="cpu", **args)


def test_sampler_works_on_the_selected_device():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ep = EpisodeSampler(numbered_dataset(10, 5), 3, 1, 1, device=device).sample(4)
    assert ep.support_x.device.type == device and ep.query_y.device.type == device


def test_row_episodes_draw_whole_classes_of_rows():
    from metalib.tasks import RowEpisodeSampler
    labels = torch.tensor([7, 3, 7, 3, 9, 9, 7, 3, 9, 3])
    sampler = RowEpisodeSampler(labels, n_way=2, k_shot=1, n_query=2, seed=0)
    ep = sampler.sample(50)
    assert ep.support.shape == (50, 2) and ep.query.shape == (50, 4)
    for b in range(50):
        for j in range(2):
            rows = torch.cat([ep.support[b, j:j + 1], ep.query[b, 2 * j:2 * j + 2]])
            assert len(set(rows.tolist())) == 3                       # distinct examples
            assert (labels[rows] == ep.classes[b, j]).all()           # all of the task's class j
        assert ep.classes[b, 0] != ep.classes[b, 1]
    assert set(ep.classes.flatten().tolist()) == {3, 7, 9}


def test_row_episodes_refuse_classes_too_small():
    from metalib.tasks import RowEpisodeSampler
    with pytest.raises(ValueError, match="class 9 has only 1"):
        RowEpisodeSampler(torch.tensor([1, 1, 1, 9]), 2, 1, 1)
    with pytest.raises(ValueError, match="n_way <= 2"):
        RowEpisodeSampler(torch.tensor([1, 1, 9, 9]), 3, 1, 1)


def test_row_episodes_among_some_rows_name_rows_of_the_whole_table():
    from metalib.tasks import RowEpisodeSampler
    labels = torch.arange(60) % 6
    rows = torch.nonzero(labels >= 2).flatten()
    within = RowEpisodeSampler(labels, 3, 2, 2, seed=5, rows=rows).sample(20)
    local = RowEpisodeSampler(labels[rows], 3, 2, 2, seed=5).sample(20)
    assert torch.equal(within.support, rows[local.support]) and torch.equal(within.query, rows[local.query])
    assert torch.equal(within.classes, local.classes) and bool((labels[within.query] >= 2).all())
