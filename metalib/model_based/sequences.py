"""Episodes as label-concatenated sequences: the input format of black-box in-context learners.

A memory-augmented network (Santoro et al., 2016), SNAIL (Mishra et al., 2018) or a transformer
reads a task as one sequence: every support example with its label beside it (one-hot), then every
query example with a label of zeros, and it must output the query labels. Two details matter:

- the support examples and the queries are **shuffled** within each task. The sampler orders both
  class by class, so with a fixed order the label of a query could be read off its position,
  without looking at a single image: a recurrent learner finds this shortcut within a few hundred
  steps and scores 100% on unseen alphabets (the chapter shows it);
- the query labels are **zero**, so nothing about the answer leaks into the input.

All ``B`` tasks are shuffled at once (an ``argsort`` of uniform noise per task), with no loop.

References:
    Santoro, Bartunov, Botvinick, Wierstra & Lillicrap (2016), "Meta-Learning with
    Memory-Augmented Neural Networks", ICML. Stanford CS330 (Finn), homework 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from metalib.tasks import Episode


@dataclass(frozen=True)
class LabelSequences:
    """``inputs [B, L, D + N]`` (features, then the one-hot label or zeros), ``labels [B, L]`` (the
    answer at every position) and ``is_query [L]`` (the positions that are scored)."""

    inputs: torch.Tensor
    labels: torch.Tensor
    is_query: torch.Tensor


def _shuffle(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each task's examples ``x [B, P, ...]`` and labels ``y [B, P]`` in a random order of its own."""
    b, p = y.shape
    order = torch.rand(b, p, generator=generator, device="cpu").to(y.device).argsort(1)
    return x.gather(1, order.view(b, p, *([1] * (x.dim() - 2))).expand_as(x)), y.gather(1, order)


def label_sequences(episode: Episode, n_way: int, shuffle: bool = True,
                    generator: torch.Generator | None = None) -> LabelSequences:
    """The tasks of ``episode`` as sequences: the support, then the queries, each shuffled per task."""
    if not isinstance(n_way, int) or n_way < 1:
        raise ValueError(f"n_way must be a positive integer, got {n_way!r}")
    sx, sy, qx, qy = episode.support_x, episode.support_y, episode.query_x, episode.query_y
    if int(sy.max()) >= n_way or int(qy.max()) >= n_way:
        raise ValueError(f"labels go up to {int(max(sy.max(), qy.max()))} but n_way is {n_way}; pass the "
                         f"episode's number of classes")
    s = sy.shape[1]
    if shuffle:
        sx, sy = _shuffle(sx, sy, generator)
        qx, qy = _shuffle(qx, qy, generator)
    support = torch.cat([sx.flatten(2), F.one_hot(sy, n_way).to(sx.dtype)], -1)
    query = torch.cat([qx.flatten(2), torch.zeros(*qy.shape, n_way, dtype=qx.dtype, device=qx.device)], -1)
    is_query = torch.cat([torch.zeros(s, dtype=torch.bool), torch.ones(qy.shape[1], dtype=torch.bool)])
    return LabelSequences(torch.cat([support, query], 1), torch.cat([sy, qy], 1), is_query.to(sy.device))


@dataclass(frozen=True)
class OnlineSequences:
    """Santoro et al.'s episodes: ``inputs [B, L, D + N]`` (example ``t`` with the label of example
    ``t − 1``), ``labels [B, L]`` (the label of example ``t``, to predict) and ``instance [B, L]``
    (1 the first time the class of example ``t`` is shown, 2 the second, …)."""

    inputs: torch.Tensor
    labels: torch.Tensor
    instance: torch.Tensor


def online_sequences(episode: Episode, n_way: int, generator: torch.Generator | None = None) -> OnlineSequences:
    """Every example of ``episode`` (support and queries) in one shuffled stream, labels offset by one step.

    The learner sees ``(x_1, 0), (x_2, y_1), (x_3, y_2), …`` and must predict ``y_t`` at step ``t``:
    from the second time a class appears it can bind the image it saw to the label that arrived one
    step later (Santoro et al., 2016, Figure 1). The first time a class appears it cannot recall,
    but it can exclude the labels already given to other classes. Accuracy by ``instance`` is their
    Table 1.
    """
    x = torch.cat([episode.support_x, episode.query_x], 1)
    y = torch.cat([episode.support_y, episode.query_y], 1)
    if int(y.max()) >= n_way:
        raise ValueError(f"labels go up to {int(y.max())} but n_way is {n_way}; pass the episode's number of classes")
    x, y = _shuffle(x, y, generator)
    previous = F.one_hot(y, n_way).to(x.dtype).roll(1, 1)
    previous[:, 0] = 0
    onehot = F.one_hot(y, n_way)
    instance = (onehot.cumsum(1) * onehot).sum(-1)  # how often this class has appeared so far, itself included
    return OnlineSequences(torch.cat([x.flatten(2), previous], -1), y, instance)
