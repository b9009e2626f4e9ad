"""Δm: the mean relative gain of a multi-task model over single-task baselines (Maninis et al., 2019).

.. math::  Δm = \\frac{100\\%}{T} \\sum_i σ_i \\frac{M_{m,i} − M_{b,i}}{M_{b,i}},

with ``σ_i = +1`` when a higher value of metric ``i`` is better (accuracy) and ``−1`` when lower is
better (an error). Positive ``Δm``: better than the single-task models on average. Being an average
of ratios, one task's large relative change can hide another's loss; read it beside the per-task
numbers.

References:
    Maninis, Radosavovic & Kokkinos (2019), "Attentive Single-Tasking of Multiple Tasks", CVPR.
"""
from __future__ import annotations

from typing import Sequence

import torch


def delta_m(multi: Sequence[float] | torch.Tensor, single: Sequence[float] | torch.Tensor,
            higher_is_better: Sequence[bool]) -> float:
    """``Δm`` in percent, from the multi-task metrics, the single-task baselines and each metric's direction."""
    m = torch.as_tensor(multi, dtype=torch.float64)
    b = torch.as_tensor(single, dtype=torch.float64)
    if m.shape != b.shape or m.dim() != 1 or len(higher_is_better) != m.numel():
        raise ValueError(f"need one multi-task value, one baseline and one direction per task; got "
                         f"{tuple(m.shape)}, {tuple(b.shape)} and {len(higher_is_better)}")
    if bool((b == 0).any()):
        raise ValueError("a baseline metric is 0; Δm divides by the baselines")
    sign = torch.tensor([1.0 if h else -1.0 for h in higher_is_better], dtype=torch.float64)
    return float(100 * (sign * (m - b) / b).mean())
