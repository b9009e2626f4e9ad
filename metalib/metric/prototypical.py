"""Prototypical Networks (Snell, Swersky and Zemel, 2017, "Prototypical Networks for Few-shot Learning").

Each class ``k`` of a task is represented by the mean of its embedded support examples,

.. math:: c_k = \\frac{1}{|S_k|} \\sum_{(x_i, y_i) \\in S_k} f_\\phi(x_i),

and a query is classified by a softmax over negative squared Euclidean distances to the prototypes,

.. math:: p_\\phi(y = k \\mid x) = \\frac{\\exp(-d(f_\\phi(x), c_k))}{\\sum_{k'} \\exp(-d(f_\\phi(x), c_{k'}))}.

Training minimises ``-log p(y = true class | query)`` over episodes. With the squared Euclidean
distance this is a linear classifier in the embedding space (Snell et al., section 2.3); cosine
similarity is the option Snell et al. found worse.

Here the prototypes of a whole batch of tasks come from one matrix product with the one-hot support
labels, ``C = (Y^T Z) / (Y^T 1)``: no loop over tasks or classes.
"""
from __future__ import annotations

import torch
from torch import nn

from ..backbones import embed_tasks
from .base import FewShotClassifier, check_tasks, support_one_hot
from .distances import cosine_similarity, squared_euclidean


def prototypes(z_support: torch.Tensor, support_y: torch.Tensor, n_way: int | None = None) -> torch.Tensor:
    """Class means ``[B, N, D]`` of support embeddings ``[B, N*K, D]`` with labels ``[B, N*K]``.

    Raises:
        ValueError: when a class of some task has no support example (its mean is undefined). The
            check reads the counts on the host, so it runs on the CPU only; on a GPU such a class
            gives NaN logits, which :func:`metalib.train` reports as a NaN loss.
    """
    onehot = support_one_hot(support_y, n_way).to(z_support.dtype)      # [B, NK, N]
    counts = onehot.sum(1)                                               # [B, N]
    if not torch.compiler.is_compiling() and z_support.device.type == "cpu" and bool((counts == 0).any()):
        raise ValueError("a class has no support example in some task; every label 0..N-1 needs at least one")
    return onehot.transpose(1, 2) @ z_support / counts.unsqueeze(-1)


def prototypical_logits(z_query: torch.Tensor, protos: torch.Tensor, distance: str = "euclidean",
                        scale: float = 1.0) -> torch.Tensor:
    """Logits ``[B, M, N]``: ``-scale * ||z - c_k||^2``, or ``scale * cos(z, c_k)`` for ``distance="cosine"``."""
    if distance == "euclidean":
        return -scale * squared_euclidean(z_query, protos)
    if distance == "cosine":
        return scale * cosine_similarity(z_query, protos)
    raise ValueError(f"unknown distance {distance!r}; use 'euclidean' or 'cosine'")


class PrototypicalNetwork(FewShotClassifier):
    """A Prototypical Network over any backbone that maps images ``[M, C, H, W]`` to vectors ``[M, D]``.

    Args:
        backbone: the embedding ``f_phi`` (a :class:`metalib.backbones.Conv4` in the papers).
        distance: ``"euclidean"`` (squared, the paper's choice) or ``"cosine"``.
        scale: multiplies the logits (1 for the Euclidean distance of the paper; cosine similarity,
            bounded by 1, needs a larger one such as 10 to give confident probabilities).

    Example:
        >>> net = PrototypicalNetwork(Conv4())                           # doctest: +SKIP
        >>> logits = net(ep.support_x, ep.support_y, ep.query_x)       # [B, N*Q, N]
        >>> net.loss(ep).backward()

    Reference:
        Snell, Swersky and Zemel (2017), "Prototypical Networks for Few-shot Learning", NeurIPS.
    """

    def __init__(self, backbone: nn.Module, distance: str = "euclidean", scale: float = 1.0) -> None:
        super().__init__()
        prototypical_logits(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), distance)   # validates distance
        self.backbone, self.distance, self.scale = backbone, distance, scale

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:
        check_tasks(support_x, support_y, query_x)
        z_support, z_query = embed_tasks(self.backbone, support_x, query_x)
        return prototypical_logits(z_query, prototypes(z_support, support_y, n_way), self.distance, self.scale)
