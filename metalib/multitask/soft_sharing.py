"""Soft parameter sharing by an L2 penalty: separate networks pulled towards each other (Duong et al., 2015).

Each task has its own trunk ``θ_i`` and head; the trunks are not tied but penalised for differing,

.. math::  L = \\sum_i L_i(θ_i) + λ \\sum_{i<j} ‖θ_i − θ_j‖^2
             = \\sum_i L_i(θ_i) + λ\\, T \\sum_i ‖θ_i − \\bar θ‖^2.

``λ = 0`` is ``T`` independent networks and ``λ → ∞`` is one shared trunk (hard sharing), so ``λ``
is a dial between the two. The trunks run as one batched call (``vmap`` over the stacked
parameters, as in :mod:`metalib.multitask.cross_stitch`).

References:
    Duong, Cohn, Bird & Cook (2015), "Low Resource Dependency Parsing: Cross-lingual Parameter
    Sharing in a Neural Network Parser", ACL.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from torch import nn

from .cross_stitch import run_columns, stacked_parameters


class L2SoftSharing(nn.Module):
    """``T`` trunks (``make_trunk()`` each) and heads; :meth:`penalty` is ``λ Σ_{i<j} ‖θ_i − θ_j‖²``."""

    def __init__(self, make_trunk: Callable[[], nn.Module], heads: Sequence[nn.Module], strength: float) -> None:
        super().__init__()
        if not strength >= 0:
            raise ValueError(f"strength (λ) must be >= 0 (0: independent networks), got {strength!r}")
        if len(heads) == 0:
            raise ValueError("L2SoftSharing needs one head per task")
        self.trunks = nn.ModuleList(make_trunk() for _ in heads)
        self.heads = nn.ModuleList(heads)
        self.strength = float(strength)
        self._blank = copy.deepcopy(self.trunks[0]).to("meta")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        t = len(self.heads)
        z = run_columns(self._blank, list(self.trunks), x.unsqueeze(0).expand(t, *x.shape))
        return [head(z[i]) for i, head in enumerate(self.heads)]

    def penalty(self) -> torch.Tensor:
        t = len(self.trunks)
        stacked = stacked_parameters(list(self.trunks))
        spread = sum(((p - p.mean(0, keepdim=True)) ** 2).sum() for p in stacked.values())
        return self.strength * t * spread

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunks.parameters())

    def task_parameters(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())
