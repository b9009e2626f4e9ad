"""Uncertainty weighting: learn each task's noise level and weight its loss by it (Kendall et al., 2018).

Each task gets a learned log-variance ``s_i = log σ_i²``; the combined loss is the negative
log-likelihood of the tasks under homoscedastic noise,

.. math::  L = \\sum_i a_i e^{-s_i} L_i + \\tfrac12 s_i,  \\qquad  a_i = \\tfrac12 \\text{ (regression,
           Gaussian)},\\; 1 \\text{ (classification, softmax with temperature)}.

For a fixed ``L_i`` the best ``s_i`` is ``log(2 a_i L_i)``, where the weight ``a_i e^{-s_i}`` becomes
``1 / (2 L_i)``: at its optimum the method divides each gradient by the task's loss, like the sum
of log losses. Getting there is the catch: multiplying ``L_i`` by ``c`` moves the optimum of ``s_i``
by ``log c`` (9.2 for ``c = 10^4``), and Adam moves a parameter by about its learning rate per step,
so at ``lr = 1e-3`` that takes thousands of steps. Give the log-variances their own, larger learning
rate (:meth:`UncertaintyWeighting.parameter_groups`) or start them at ``log(2 a_i L_i(0))``
(:meth:`UncertaintyWeighting.start_at`).

References:
    Kendall, Gal & Cipolla (2018), "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
    Geometry and Semantics", CVPR.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .scalarization import check_losses

KINDS = {"regression": 0.5, "classification": 1.0}


class UncertaintyWeighting(nn.Module):
    """Learned log-variances ``s [T]`` and the combined loss ``Σ a_i e^{-s_i} L_i + s_i / 2``.

    Args:
        kinds: one of ``"regression"`` or ``"classification"`` per task (sets ``a_i``).
    """

    def __init__(self, kinds: Sequence[str]) -> None:
        super().__init__()
        bad = [k for k in kinds if k not in KINDS]
        if not kinds or bad:
            raise ValueError(f"kinds must name each task's kind, one of {sorted(KINDS)}, got {list(kinds)!r}")
        self.register_buffer("factor", torch.tensor([KINDS[k] for k in kinds]))
        self.log_variance = nn.Parameter(torch.zeros(len(kinds)))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        losses = check_losses(losses)
        if losses.numel() != self.log_variance.numel():
            raise ValueError(f"got {losses.numel()} losses for {self.log_variance.numel()} tasks")
        s = self.log_variance
        return (self.factor * torch.exp(-s) * losses + 0.5 * s).sum()

    def weights(self) -> torch.Tensor:
        """The effective weights ``a_i e^{-s_i}`` ``[T]``."""
        return (self.factor * torch.exp(-self.log_variance)).detach()

    @torch.no_grad()
    def start_at(self, losses: torch.Tensor) -> None:
        """Set ``s_i = log(2 a_i L_i)``, the optimum for the given (first) losses."""
        self.log_variance.copy_(torch.log(2 * self.factor * check_losses(losses, positive=True).detach()))

    def parameter_groups(self, lr: float) -> list[dict]:
        """``[{"params": [s], "lr": lr}]`` to give the log-variances their own optimiser learning rate."""
        return [{"params": [self.log_variance], "lr": lr}]
