"""GradNorm: learn task weights that balance the tasks' gradient norms (Chen et al., 2018).

With weights ``w_i`` (summing to ``T``) and the last shared layer's parameters ``W``, let
``G_i = ‖∇_W w_i L_i‖`` and ``Ḡ`` their mean. A task's *relative inverse training rate* is
``r_i = L̃_i / mean(L̃)`` with ``L̃_i = L_i(t) / L_i(0)``; tasks that have learned less (larger
``r_i``) should get larger gradients. The weights descend

.. math::  L_{grad} = \\sum_i \\big| G_i − Ḡ\\, r_i^{α} \\big|,

with the target ``Ḡ r_i^α`` held constant, and are renormalised to sum to ``T`` after each step;
the network descends ``Σ_i w_i L_i``. ``α`` (1.5 in the paper's NYUv2 runs) sets how hard the rates
are pulled together. ``G_i = w_i ‖∇_W L_i‖``, so ``∂L_{grad}/∂w_i = sign(G_i − Ḡ r_i^α) ‖∇_W L_i‖``
needs the per-task gradient norms only (:func:`metalib.multitask.jacobian.task_jacobian` on ``W``), no
second derivatives.

References:
    Chen, Badrinarayanan, Lee & Rabinovich (2018), "GradNorm: Gradient Normalization for Adaptive
    Loss Balancing in Deep Multitask Networks", ICML.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .jacobian import task_jacobian
from .scalarization import check_losses


class GradNorm(nn.Module):
    """Task weights ``w [T]`` (an ``nn.Parameter``; put it in the optimiser) and GradNorm's combined loss.

    Call :meth:`forward` with the losses and the last shared layer's parameters each step: it sets
    ``w.grad`` to the gradient of ``L_grad`` and returns ``Σ_i w_i L_i`` (with ``w`` held constant)
    to back-propagate through the network; after ``optimizer.step()`` call :meth:`renormalise`.
    """

    def __init__(self, num_tasks: int, alpha: float = 1.5) -> None:
        super().__init__()
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0 (0: equal gradient norms; the paper uses 0.12 to 3), got {alpha!r}")
        self.alpha = float(alpha)
        self.weights = nn.Parameter(torch.ones(int(num_tasks)))
        self.register_buffer("initial", torch.zeros(0))

    def forward(self, losses: torch.Tensor, last_shared: Sequence[torch.Tensor]) -> torch.Tensor:
        losses = check_losses(losses, positive=True)
        if losses.numel() != self.weights.numel():
            raise ValueError(f"got {losses.numel()} losses for {self.weights.numel()} tasks")
        if self.initial.numel() == 0:
            self.initial = losses.detach().clone()
        norms = task_jacobian(losses, last_shared, retain_graph=True).norm(dim=1)
        with torch.no_grad():
            w = self.weights
            g = w * norms
            ratio = losses.detach() / self.initial
            target = g.mean() * (ratio / ratio.mean()) ** self.alpha
            self.weights.grad = torch.sign(g - target) * norms
        return (w.detach() * losses).sum()

    @torch.no_grad()
    def renormalise(self) -> None:
        """Clip the weights at a small positive value and rescale them to sum to ``T``."""
        w = self.weights.clamp(min=1e-3)
        self.weights.copy_(w * w.numel() / w.sum())
