"""Siamese networks: one embedding applied to pairs or triplets, trained so that distance means
"different class"; one-shot classification by the nearest support example.

Koch, Zemel and Salakhutdinov (2015) trained twin networks to tell whether two Omniglot characters
are the same, then classified a query by the support image it was most similar to. Two losses turn
"same or different" into a metric:

- **contrastive** (Hadsell, Chopra and LeCun, 2006), for a pair at distance ``d``:
  ``L = s d^2 + (1 - s) max(0, m - d)^2`` with ``s = 1`` for a same-class pair: pull same pairs
  together, push different pairs apart until they are ``m`` away;
- **triplet** (Schroff, Kalenichenko and Philbin, 2015), for an anchor, a positive of its class and
  a negative of another: ``L(a, p, n) = max(0, m + D(a, p) - D(a, n))``, zero once the negative is
  ``m`` farther than the positive;
- **batch-hard** mining (Hermans, Beyer and Leibe, 2017): for every anchor in a batch, the
  *farthest* positive and the *nearest* negative, so each term is the hardest the batch offers.

``D`` is the Euclidean distance. Episodes supply the batches: every image of a task (support and
query) is an anchor, and all pairs and triplets come from one ``[B, P, P]`` distance matrix.
"""
from __future__ import annotations

import torch
from torch import nn

from ..backbones import embed_tasks
from .base import FewShotClassifier, check_tasks, support_one_hot
from .distances import pairwise_distances


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise ``||a - b||``, with ``1e-12`` inside the root to keep its gradient finite at 0."""
    return (a - b).pow(2).sum(-1).add(1e-12).sqrt()


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, same: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean of ``s d^2 + (1 - s) max(0, m - d)^2`` over pairs ``(z1[i], z2[i])``, ``d = ||z1 - z2||``."""
    d = _distance(z1, z2)
    s = same.to(d.dtype)
    return (s * d.pow(2) + (1 - s) * (margin - d).clamp_min(0).pow(2)).mean()


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = 1.0) -> torch.Tensor:
    """Mean of ``max(0, m + D(a, p) - D(a, n))`` over triplets, ``D`` the Euclidean distance."""
    return (margin + _distance(anchor, positive) - _distance(anchor, negative)).clamp_min(0).mean()


def _same_class(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks ``[B, P, P]``: same class and not the same example; different class."""
    same = labels.unsqueeze(2) == labels.unsqueeze(1)
    eye = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def batch_hard_triplet_loss(z: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Batch-hard triplet loss over embeddings ``[B, P, D]`` with labels ``[B, P]`` (one set per task).

    For anchor ``a``: ``max(0, m + max_{p: y_p = y_a, p != a} D(a, p) - min_{n: y_n != y_a} D(a, n))``,
    averaged over all anchors of all tasks (Hermans et al., 2017). Every class needs two examples.
    """
    if z.dim() != 3 or labels.shape != z.shape[:2]:
        raise ValueError(f"expected embeddings [B, P, D] and labels [B, P], got {tuple(z.shape)} and "
                         f"{tuple(labels.shape)}")
    d = pairwise_distances(z)
    positive, negative = _same_class(labels)
    hardest_positive = d.masked_fill(~positive, float("-inf")).amax(-1)
    hardest_negative = d.masked_fill(~negative, float("inf")).amin(-1)
    return (margin + hardest_positive - hardest_negative).clamp_min(0).mean()


def all_pairs_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Contrastive loss over every pair of a task, ``[B, P, D]``; same and different pairs weigh half each.

    A task has far more different-class pairs than same-class ones; averaging each kind separately
    keeps the positives from being drowned out.
    """
    d = pairwise_distances(z)
    positive, negative = _same_class(labels)
    pull = (d.pow(2) * positive).sum() / positive.sum().clamp_min(1)
    push = ((margin - d).clamp_min(0).pow(2) * negative).sum() / negative.sum().clamp_min(1)
    return (pull + push) / 2


def nearest_support_scores(z_query: torch.Tensor, z_support: torch.Tensor, support_y: torch.Tensor,
                           n_way: int | None = None) -> torch.Tensor:
    """Scores ``[B, M, N]``: minus the distance from each query to the nearest support example of each class."""
    d = pairwise_distances(z_query, z_support)                                  # [B, M, NK]
    member = support_one_hot(support_y, n_way).transpose(1, 2).bool()           # [B, N, NK]
    d = d.unsqueeze(2).masked_fill(~member.unsqueeze(1), float("inf"))         # [B, M, N, NK]
    return -d.amin(-1)


class SiameseNetwork(FewShotClassifier):
    """An embedding trained with a pair or triplet loss; classifies a query by its nearest support example.

    Args:
        backbone: the shared embedding (the twin, or triplet, network).
        loss: ``"triplet"`` (batch-hard, Hermans et al.) or ``"contrastive"`` (all pairs, Hadsell et al.).
        margin: ``m`` of the loss.

    References:
        Koch, Zemel and Salakhutdinov (2015), "Siamese Neural Networks for One-shot Image Recognition".
        Hadsell, Chopra and LeCun (2006); Schroff et al. (2015); Hermans, Beyer and Leibe (2017).
    """

    LOSSES = ("triplet", "contrastive")

    def __init__(self, backbone: nn.Module, loss: str = "triplet", margin: float = 1.0) -> None:
        super().__init__()
        if loss not in self.LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {self.LOSSES}")
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.backbone, self.loss_name, self.margin = backbone, loss, margin

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:
        check_tasks(support_x, support_y, query_x)
        z_support, z_query = embed_tasks(self.backbone, support_x, query_x)
        return nearest_support_scores(z_query, z_support, support_y, n_way)

    def loss(self, episode, n_way: int | None = None) -> torch.Tensor:
        """The pair or triplet loss over all images of each task (support and query together)."""
        z_support, z_query = embed_tasks(self.backbone, episode.support_x, episode.query_x)
        z = torch.cat([z_support, z_query], dim=1)
        labels = torch.cat([episode.support_y, episode.query_y], dim=1)
        if self.loss_name == "triplet":
            return batch_hard_triplet_loss(z, labels, self.margin)
        return all_pairs_contrastive_loss(z, labels, self.margin)
