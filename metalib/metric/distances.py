"""Distances between sets of embeddings, for a batch of tasks at once.

All functions take ``a [B, M, D]`` and ``b [B, N, D]`` and return ``[B, M, N]``: entry ``[t, i, j]``
compares ``a[t, i]`` with ``b[t, j]``. They are matrix products, not loops, and run on any device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(f"expected embeddings a [B, M, D] and b [B, N, D] with the same B and D, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def squared_euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``d(a_i, b_j) = ||a_i - b_j||^2 = ||a_i||^2 - 2 a_i.b_j + ||b_j||^2``, clamped at 0."""
    _check(a, b)
    d = (a * a).sum(-1, keepdim=True) - 2 * a @ b.transpose(1, 2) + (b * b).sum(-1).unsqueeze(1)
    return d.clamp_min(0)


def pairwise_distances(a: torch.Tensor, b: torch.Tensor | None = None, squared: bool = False,
                       eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances ``||a_i - b_j||`` (``b`` defaults to ``a``).

    The square root has an infinite derivative at 0 (a point and itself); ``eps`` inside the root
    keeps gradients finite there.
    """
    d = squared_euclidean(a, a if b is None else b)
    return d if squared else (d + eps).sqrt()


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``cos(a_i, b_j) = a_i.b_j / (||a_i|| ||b_j||)``, in [-1, 1]."""
    _check(a, b)
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).transpose(1, 2)
