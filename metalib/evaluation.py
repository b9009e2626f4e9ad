"""Evaluation as the papers report it: mean over many test episodes with a 95% confidence interval.

Few-shot papers (Vinyals et al., 2016; Snell et al., 2017; Finn et al., 2017) average the accuracy
of 600 (sometimes 1000 or 10,000) test episodes and report ``mean ± 1.96 · std / sqrt(n)``, the
half-width of a normal 95% confidence interval for the mean. :func:`evaluate` does the same for any
method written as a mapping ``(support_x, support_y, query_x) -> predictions`` over a batch of tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .distributed import Ranks
from .tasks import EpisodeSampler

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


@dataclass(frozen=True)
class Estimate:
    """A mean with the half-width of its 95% confidence interval, over ``n`` independent values."""

    mean: float
    ci95: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.ci95:.2g} (n={self.n})"

    def percent(self, digits: int = 2) -> str:
        """As a percentage, e.g. ``'97.31 ± 0.42 %'`` (for accuracies)."""
        return f"{100 * self.mean:.{digits}f} ± {100 * self.ci95:.{digits}f} %"

    @property
    def low(self) -> float:
        return self.mean - self.ci95

    @property
    def high(self) -> float:
        return self.mean + self.ci95


def mean_ci95(values: Sequence[float] | torch.Tensor) -> Estimate:
    """Mean and 95% interval half-width ``1.96 · s / sqrt(n)`` (``s`` the sample standard deviation)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten().cpu()
    n = v.numel()
    if n == 0:
        raise ValueError("mean_ci95 needs at least one value")
    if not torch.isfinite(v).all():
        raise ValueError(f"mean_ci95 got {int((~torch.isfinite(v)).sum())} non-finite value(s) (NaN or inf); "
                         f"check the losses or predictions that produced them")
    half = Z95 * float(v.std(unbiased=True)) / math.sqrt(n) if n > 1 else float("nan")
    return Estimate(float(v.mean()), half, n)


Predict = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def episode_accuracy(predictions: torch.Tensor, query_y: torch.Tensor) -> torch.Tensor:
    """Accuracy of each task in a batch: ``predictions`` are labels ``[B, M]`` or scores ``[B, M, N]``."""
    if predictions.dim() == query_y.dim() + 1:
        predictions = predictions.argmax(dim=-1)
    if predictions.shape != query_y.shape:
        raise ValueError(f"predictions of shape {tuple(predictions.shape)} do not match the queries "
                         f"{tuple(query_y.shape)}; return labels [B, N*Q] or scores [B, N*Q, N]")
    return (predictions == query_y).float().mean(dim=-1)


def evaluate(predict: Predict, sampler: EpisodeSampler, episodes: int = 600,
             batch_size: int = 50, ranks: Ranks | None = None) -> Estimate:
    """Mean query accuracy and its 95% interval over ``episodes`` test tasks.

    Args:
        predict: the method as a mapping ``(support_x, support_y, query_x) -> predictions`` over a
            batch of tasks: labels ``[B, N*Q]`` or scores (logits, log-probabilities) ``[B, N*Q, N]``.
            It runs under the caller's grad mode, so methods that adapt by gradient descent work;
            wrap it in ``torch.no_grad()`` yourself where no gradient is needed.
        sampler: draws the test tasks (use the test split, and a seed of its own).
        episodes: how many tasks (600, the papers' convention, by default).
        batch_size: tasks per call to ``predict``.
        ranks: the processes that share the work (:func:`metalib.distributed.setup`): each draws
            the same tasks, predicts its share of every batch, and all get the accuracies of all.

    Example:
        >>> acc = evaluate(lambda sx, sy, qx: nearest_prototype(sx, sy, qx), test_sampler)  # doctest: +SKIP
        >>> print(acc.percent())     # e.g. '93.10 ± 0.52 %'
    """
    if episodes < 1 or batch_size < 1:
        raise ValueError(f"episodes and batch_size must be >= 1, got {episodes} and {batch_size}")
    ranks = ranks or Ranks()
    accuracies = []
    done = 0
    while done < episodes:
        b = min(batch_size, episodes - done)
        ep = ranks.shard(sampler.sample(b), even=False)
        done += b
        if ep.support_x.shape[0]:
            accuracies.append(episode_accuracy(predict(ep.support_x, ep.support_y, ep.query_x), ep.query_y).detach())
    mine = torch.cat(accuracies) if accuracies else torch.zeros(0, device=sampler.device)
    return mean_ci95(ranks.gather(mine))
