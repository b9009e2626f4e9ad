"""What every metric-based method shares: support labels as one-hot masks, and the episode loss.

:class:`FewShotClassifier` is the interface of the chapter's methods: ``forward(support_x,
support_y, query_x)`` returns scores ``[B, N*Q, N]`` for a batch of ``B`` tasks, and ``loss(episode)``
is the cross-entropy of those scores on the query labels (Relation Networks override it with their
mean squared error).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def support_one_hot(support_y: torch.Tensor, n_way: int | None = None) -> torch.Tensor:
    """Float one-hot ``[B, N*K, N]`` of the support labels.

    ``n_way`` defaults to ``max label + 1``, which reads the labels on the host; pass it where the
    caller knows N (training loops on a GPU) to avoid that synchronisation.
    """
    if support_y.dim() != 2 or support_y.dtype != torch.int64:
        raise ValueError(f"support_y must be int64 labels [B, N*K], got {support_y.dtype} {tuple(support_y.shape)}")
    if n_way is None:
        n_way = int(support_y.max()) + 1
    return F.one_hot(support_y, n_way).to(torch.get_default_dtype())


def check_tasks(support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> None:
    """Shapes of a batch of tasks: ``support_x [B, N*K, C, H, W]``, ``support_y [B, N*K]``, ``query_x [B, M, C, H, W]``."""
    if support_y.dim() != 2 or support_x.dim() < 3 or query_x.dim() != support_x.dim():
        raise ValueError(f"expected a batch of tasks, support_x [B, N*K, ...], support_y [B, N*K] and query_x "
                         f"[B, M, ...], got {tuple(support_x.shape)}, {tuple(support_y.shape)} and "
                         f"{tuple(query_x.shape)}; "
                         f"add the task dimension with x.unsqueeze(0) for a single task")
    if support_y.shape != support_x.shape[:2] or query_x.shape[0] != support_x.shape[0] \
            or query_x.shape[2:] != support_x.shape[2:]:
        raise ValueError(f"task shapes do not match: support_x {tuple(support_x.shape)}, support_y "
                         f"{tuple(support_y.shape)}, query_x {tuple(query_x.shape)}")


class FewShotClassifier(nn.Module):
    """Base of the metric-based methods: scores for a batch of tasks, and the episode loss."""

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, episode, n_way: int | None = None) -> torch.Tensor:
        """Mean cross-entropy of the query scores: ``-mean log softmax(scores)[true class]``."""
        scores = self(episode.support_x, episode.support_y, episode.query_x, n_way=n_way)
        return F.cross_entropy(scores.flatten(0, 1), episode.query_y.flatten())
