"""Evaluation with 95% intervals, and the shared training loop."""
import math

import pytest
import torch

from metalib import EpisodeSampler, evaluate, mean_ci95, train
from metalib.evaluation import episode_accuracy
from metalib.training import NonFiniteLossError
from toys import numbered_dataset


def test_mean_ci95_matches_the_textbook_formula():
    values = [0.8, 0.9, 1.0, 0.7, 0.6]
    est = mean_ci95(values)
    mean = sum(values) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert est.mean == pytest.approx(mean) and est.ci95 == pytest.approx(1.959964 * sd / math.sqrt(5))
    assert est.n == 5 and est.percent() == f"{100 * mean:.2f} ± {100 * est.ci95:.2f} %"


def test_mean_ci95_refuses_nan():
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci95([0.5, float("nan")])


def test_episode_accuracy_takes_labels_or_scores():
    y = torch.tensor([[0, 1, 2, 2]])
    assert episode_accuracy(torch.tensor([[0, 1, 2, 0]]), y).tolist() == [0.75]
    scores = torch.nn.functional.one_hot(torch.tensor([[0, 1, 1, 2]]), 3).float()
    assert episode_accuracy(scores, y).tolist() == [0.75]
    with pytest.raises(ValueError, match="do not match the queries"):
        episode_accuracy(torch.zeros(1, 3), y)


def reads_class_pixel(support_x, support_y, query_x):
    """A perfect 'method' on numbered data: match the class pixel of each query to the support."""
    s = support_x[..., 0, 0, 0]
    q = query_x[..., 0, 0, 0]
    return -(q.unsqueeze(-1) - s.unsqueeze(-2)).abs()  # scores [B, N*Q, N*K]; K = 1 so column = label


def test_evaluate_a_perfect_and_a_chance_method():
    sampler = EpisodeSampler(numbered_dataset(30, 10), n_way=5, k_shot=1, n_query=3, device="cpu", seed=0)
    perfect = evaluate(reads_class_pixel, sampler, episodes=600, batch_size=64)
    assert perfect.mean == 1.0 and perfect.n == 600 and perfect.ci95 == 0.0
    chance = evaluate(lambda sx, sy, qx: torch.randint(0, 5, qx.shape[:2]), sampler, episodes=600)
    assert chance.n == 600 and abs(chance.mean - 0.2) < 3 * chance.ci95 + 0.01
    assert 0 < chance.ci95 < 0.05


def test_train_returns_every_loss_and_learns():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)

    def step(i):
        loss = (w - 3).pow(2).sum()
        opt.zero_grad(), loss.backward(), opt.step()
        return loss

    losses = train(step, 60, check_every=7, progress=False)
    assert len(losses) == 60 and losses[-1] < 1e-6 < losses[0] == 9.0


def test_train_names_the_step_where_the_loss_became_nan():
    def step(i):
        return torch.tensor(float("nan") if i == 13 else 1.0)

    with pytest.raises(NonFiniteLossError, match=r"became nan at step 13 \(of 40\).*Lower the learning rate"):
        train(step, 40, check_every=10, progress=False)


def test_train_refuses_negative_steps():
    with pytest.raises(ValueError, match="non-negative integer"):
        train(lambda i: 0.0, -1)
