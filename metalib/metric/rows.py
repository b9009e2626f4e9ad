"""Few-shot classification when the examples are rows of a table: texts, sounds, any precomputed inputs.

A :class:`metalib.tasks.RowEpisode` names the support and query rows of a batch of tasks; an
*encoder* maps rows ``[...]`` to vectors ``[..., D]`` (a lookup in frozen features, or a network that
reads the rows' inputs). Everything here works on a whole batch of tasks at once:

- :func:`prototype_logits`: Snell et al.'s (2017) nearest-prototype scores, ``-||f(x) - c_k||^2``;
- :func:`prototypical_loss`: their episode loss, which meta-training minimises;
- :func:`logistic_regression`: the fine-tuning baseline (Chen et al., 2019, "A Closer Look at Few-shot
  Classification", ICLR): a softmax classifier trained on each task's support features, every
  task's weights updated together;
- :func:`confusion_counts`: which true class is predicted as which, over many tasks.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..tasks import RowEpisode
from .prototypical import prototypes, prototypical_logits

Encoder = Callable[[torch.Tensor], torch.Tensor]


def prototype_logits(encode: Encoder, episode: RowEpisode, n_way: int) -> torch.Tensor:
    """Scores ``[B, N*Q, N]`` of each query against the mean of each class's support vectors."""
    return prototypical_logits(encode(episode.query), prototypes(encode(episode.support), episode.support_y, n_way))


def prototypical_loss(encode: Encoder, episode: RowEpisode, n_way: int) -> torch.Tensor:
    """Mean cross-entropy of the queries under :func:`prototype_logits`."""
    logits = prototype_logits(encode, episode, n_way)
    return F.cross_entropy(logits.flatten(0, 1), episode.query_y.flatten())


def logistic_regression(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, n_way: int,
                        steps: int = 100, lr: float = 0.01, scale: float = 10.0) -> torch.Tensor:
    """Logits ``[B, M, N]`` of a softmax classifier fitted to each task's support vectors ``[B, S, D]``.

    Weights ``[B, D, N]`` and biases start at zero and take ``steps`` Adam steps on the support
    cross-entropy; inputs are multiplied by ``scale`` (unit-length features need it to reach confident
    probabilities in a hundred steps). The features themselves stay fixed.
    """
    with torch.enable_grad():
        support, query = support.detach(), query.detach()
        w = torch.zeros(support.shape[0], support.shape[-1], n_way, requires_grad=True)
        b = torch.zeros(support.shape[0], 1, n_way, requires_grad=True)
        opt = torch.optim.Adam([w, b], lr=lr)
        for _ in range(steps):
            loss = F.cross_entropy((scale * support @ w + b).flatten(0, 1), support_y.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
    return (scale * query @ w + b).detach()


def confusion_counts(logits: torch.Tensor, episode: RowEpisode, num_classes: int) -> torch.Tensor:
    """``counts[i, j]``: how often a query of class ``i`` was given class ``j`` (the data set's class ids)."""
    predicted = episode.classes.gather(1, logits.argmax(-1))                    # [B, N*Q]
    true = episode.classes.gather(1, episode.query_y)
    counts = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    counts.scatter_add_(0, (true * num_classes + predicted).flatten(), torch.ones(true.numel(), dtype=torch.int64))
    return counts.view(num_classes, num_classes)
