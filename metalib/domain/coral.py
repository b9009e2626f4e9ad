r"""CORAL: align the second-order statistics of the two domains, in closed form or as a loss.

**Linear CORAL** (Sun, Feng & Saenko, 2016) recolours the source features with the target's
covariance before any classifier is trained: with ``C_S = cov(X_S) + ε I`` and
``C_T = cov(X_T) + ε I`` (``ε = 1`` in the paper),

.. math::  X_S' = X_S \, C_S^{−1/2} \, C_T^{1/2},

which whitens the source and colours it like the target: ``cov(X_S') = C_T^{1/2} (I − ε C_S^{−1})
C_T^{1/2}``, the target's covariance as ``ε → 0``; ``ε`` keeps both matrices invertible. (The
paper's Algorithm 1 leaves the data uncentred; so does :func:`coral_transform`.)

**Deep CORAL** (Sun & Saenko, 2016) makes the same match a loss on learned features ``[n, d]``:

.. math::  L_{\text{CORAL}} = \frac{1}{4 d^2} \, \lVert C_S − C_T \rVert_F^2, \qquad
           C = \frac{1}{n − 1} \Big( X^\top X − \frac{1}{n} (\mathbf{1}^\top X)^\top (\mathbf{1}^\top X) \Big).

References: Sun, Feng & Saenko (2016), "Return of Frustratingly Easy Domain Adaptation", AAAI
(Algorithm 1); Sun & Saenko (2016), "Deep CORAL: Correlation Alignment for Deep Domain
Adaptation", ECCV Workshops (Eq. 1-2).
"""
from __future__ import annotations

import torch
from torch import nn

from .adaptation import AdaptationBatch


def covariance(x: torch.Tensor) -> torch.Tensor:
    """The unbiased covariance ``[d, d]`` of the rows of ``x [n, d]`` (Deep CORAL's Eq. 2)."""
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"covariance needs features [n, d] with n >= 2, got {tuple(x.shape)}")
    n = x.shape[0]
    ones = x.sum(0, keepdim=True)
    return (x.T @ x - ones.T @ ones / n) / (n - 1)


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``‖C_S - C_T‖_F² / (4 d²)`` between features ``[S, d]`` and ``[T, d]``."""
    if source.dim() != 2 or target.dim() != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"coral_loss expects features [S, d] and [T, d] of the same width, got "
                         f"{tuple(source.shape)} and {tuple(target.shape)}")
    d = source.shape[1]
    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * d * d)


def _matrix_power(c: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(c)
    return (vectors * values.clamp_min(1e-12).pow(power)) @ vectors.T


def coral_transform(source: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Linear CORAL: the source features ``[S, d]`` recoloured with the target's covariance."""
    if not eps > 0:
        raise ValueError(f"eps must be positive (it keeps both covariances invertible), got {eps!r}")
    eye = torch.eye(source.shape[1], dtype=source.dtype, device=source.device)
    c_s, c_t = covariance(source) + eps * eye, covariance(target) + eps * eye
    return source @ _matrix_power(c_s, -0.5) @ _matrix_power(c_t, 0.5)


class CORALLoss(nn.Module):
    """Deep CORAL between the source and target features of a batch (no parameters of its own)."""

    def forward(self, batch: AdaptationBatch) -> torch.Tensor:
        return coral_loss(batch.source_features, batch.target_features)
