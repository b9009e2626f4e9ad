"""Dynamic weight average: weight each task by how slowly its loss is falling (Liu, Johns & Davison, 2019).

From the average losses of the last two epochs (or windows of steps), the rate
``r_i = L_i(t−1) / L_i(t−2)`` is near 1 for a task that has stalled and below 1 for one still
improving; the weights are a softmax of the rates with temperature ``τ`` (2 in the paper), scaled
to sum to ``T``:

.. math::  w_i(t) = \\frac{T \\exp(r_i(t−1)/τ)}{\\sum_j \\exp(r_j(t−1)/τ)},  \\qquad  L = \\sum_i w_i(t) L_i.

The first two epochs use ``w_i = 1``. Only loss *ratios* enter, so the weights do not see units
(but the combined loss still does: a task in larger units still dominates ``Σ w_i L_i``).

References:
    Liu, Johns & Davison (2019), "End-to-End Multi-Task Learning with Attention", CVPR.
"""
from __future__ import annotations

import torch

from .scalarization import check_losses


class DynamicWeightAverage:
    """``weights()`` for the current epoch, ``__call__(losses)`` the weighted sum, ``end_epoch()`` to move on."""

    def __init__(self, num_tasks: int, temperature: float = 2.0) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 (the paper uses 2), got {temperature!r}")
        self.num_tasks, self.temperature = int(num_tasks), float(temperature)
        self.history: list[torch.Tensor] = []
        self._sum = torch.zeros(self.num_tasks, dtype=torch.float64)
        self._count = 0

    def weights(self) -> torch.Tensor:
        if len(self.history) < 2:
            return torch.ones(self.num_tasks)
        rate = self.history[-1] / self.history[-2]
        return (self.num_tasks * torch.softmax(rate / self.temperature, 0)).float()

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        losses = check_losses(losses)
        if losses.numel() != self.num_tasks:
            raise ValueError(f"got {losses.numel()} losses for {self.num_tasks} tasks")
        self._sum += losses.detach().double().cpu()
        self._count += 1
        return (self.weights().to(losses) * losses).sum()

    def end_epoch(self) -> None:
        """Close the epoch: its mean losses become the newest history entry."""
        if self._count == 0:
            raise RuntimeError("end_epoch() called before any loss of this epoch was weighted")
        self.history.append(self._sum / self._count)
        self._sum = torch.zeros(self.num_tasks, dtype=torch.float64)
        self._count = 0
