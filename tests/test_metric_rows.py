"""metalib.metric.rows: prototypes, the fine-tuned baseline and confusions over tasks of table rows."""
import metalib  # noqa: F401  (before torch)
import torch

from metalib.metric.rows import confusion_counts, logistic_regression, prototype_logits, prototypical_loss
from metalib.tasks import RowEpisodeSampler


def test_prototype_logits_match_a_loop_over_tasks_in_float64():
    torch.manual_seed(0)
    table = torch.randn(40, 6, dtype=torch.float64)
    ep = RowEpisodeSampler(torch.arange(40) % 5, 3, 2, 3, seed=1).sample(4)
    got = prototype_logits(lambda r: table[r], ep, 3)
    for b in range(4):
        protos = torch.stack([table[ep.support[b][ep.support_y[b] == k]].mean(0) for k in range(3)])
        for m, row in enumerate(ep.query[b]):
            expected = -((table[row] - protos) ** 2).sum(-1)
            torch.testing.assert_close(got[b, m], expected)
    loss = prototypical_loss(lambda r: table[r], ep, 3)
    direct = -torch.log_softmax(got, -1).gather(-1, ep.query_y[..., None]).mean()
    torch.testing.assert_close(loss, direct)


def test_logistic_regression_separates_separable_supports_and_keeps_features_fixed():
    torch.manual_seed(0)
    centres = 3 * torch.eye(4)[:3]
    support = centres.repeat_interleave(2, 0)[None].repeat(2, 1, 1) + 0.1 * torch.randn(2, 6, 4)
    support.requires_grad_(True)
    labels = torch.arange(3).repeat_interleave(2)[None].repeat(2, 1)
    logits = logistic_regression(support, labels, centres[None].repeat(2, 1, 1), 3, steps=50, scale=1.0)
    assert (logits.argmax(-1) == torch.arange(3)).all() and support.grad is None


def test_confusion_counts_use_the_data_sets_class_ids():
    labels = torch.tensor([4, 4, 1, 1, 2, 2])
    ep = RowEpisodeSampler(labels, 2, 1, 1, seed=0).sample(3)
    logits = torch.zeros(3, 2, 2)
    logits[..., 0] = 1.0                                   # always answer label 0
    counts = confusion_counts(logits, ep, 5)
    assert int(counts.sum()) == 6
    for b in range(3):
        first, second = ep.classes[b].tolist()
        assert counts[first, first] >= 1 and counts[second, first] >= 1
    assert int(counts[[0, 3]].sum()) == 0
