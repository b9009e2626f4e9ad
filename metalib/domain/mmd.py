r"""Maximum mean discrepancy with a multi-kernel Gaussian: the alignment loss of DAN (Long et al., 2015).

The squared MMD between the feature distributions ``P`` (source) and ``Q`` (target) in the
reproducing-kernel Hilbert space of a kernel ``k`` is

.. math::  \mathrm{MMD}^2(P, Q) = \mathbb{E}[k(s, s')] + \mathbb{E}[k(t, t')] − 2\,\mathbb{E}[k(s, t)],

zero exactly when ``P = Q`` for a characteristic kernel such as the Gaussian (Gretton et al., 2012).
DAN uses a sum of Gaussian kernels of several bandwidths, ``k = Σ_u exp(−‖a − b‖² / (2 σ_u²))``,
so that no single bandwidth has to be right. Here the bandwidths are multiples ``m_u`` of the mean
squared distance between all features of the batch (detached: the bandwidth is a choice, not a
parameter to game), ``2 σ_u² = m_u · mean ‖a − b‖²``, and the estimate is the biased quadratic
one (a V-statistic: every pair, including an example with itself), which is never negative.

DAN adapts several layers and estimates the MMD in linear time; this module adapts one feature
layer with the quadratic estimate, which is cheap at batch sizes of a few hundred.

References: Long, Cao, Wang & Jordan (2015), "Learning Transferable Features with Deep Adaptation
Networks", ICML; Gretton, Borgwardt, Rasch, Schölkopf & Smola (2012), "A Kernel Two-Sample Test",
JMLR 13 (the biased and unbiased estimates).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .adaptation import AdaptationBatch

MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Bandwidth multipliers ``m_u`` of the mean squared distance (DAN: a range of ``2^k``)."""


def gaussian_kernel_sum(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor,
                        multipliers: Sequence[float] = MULTIPLIERS) -> torch.Tensor:
    """``[len(a), len(b)]``: ``Σ_u exp(-‖a_i - b_j‖² / (m_u · scale))``."""
    d2 = torch.cdist(a, b).pow(2)
    return sum(torch.exp(-d2 / (m * scale)) for m in multipliers)


def mmd2(source: torch.Tensor, target: torch.Tensor, multipliers: Sequence[float] = MULTIPLIERS) -> torch.Tensor:
    """The biased estimate of ``MMD²`` between two samples of features ``[S, D]`` and ``[T, D]``."""
    if source.dim() != 2 or target.dim() != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"mmd2 expects features [S, D] and [T, D] of the same width, got "
                         f"{tuple(source.shape)} and {tuple(target.shape)}")
    if len(source) < 1 or len(target) < 1 or not multipliers or min(multipliers) <= 0:
        raise ValueError("mmd2 needs at least one example per domain and positive bandwidth multipliers")
    joint = torch.cat([source, target])
    n = len(joint)
    scale = (torch.cdist(joint, joint).pow(2).sum() / max(n * n - n, 1)).detach().clamp_min(1e-12)
    k_ss = gaussian_kernel_sum(source, source, scale, multipliers).mean()
    k_tt = gaussian_kernel_sum(target, target, scale, multipliers).mean()
    k_st = gaussian_kernel_sum(source, target, scale, multipliers).mean()
    return k_ss + k_tt - 2 * k_st


class MMDLoss(nn.Module):
    """``MMD²`` between the source and target features of a batch (no parameters of its own)."""

    def __init__(self, multipliers: Sequence[float] = MULTIPLIERS) -> None:
        super().__init__()
        self.multipliers = tuple(multipliers)

    def forward(self, batch: AdaptationBatch) -> torch.Tensor:
        return mmd2(batch.source_features, batch.target_features, self.multipliers)
