"""CAVIA: adapt a small context vector, not the network (Zintgraf et al., 2019).

The network ``f_θ(x, φ)`` takes, beside each input, a *context* vector ``φ ∈ ℝ^c`` shared by all the
inputs of a task. The inner loop starts every task at ``φ = 0`` and adapts only the context,

.. math::  φ_b ← φ_b − α ∇_φ \\frac{1}{K} \\sum_{k} ℓ\\big(f_θ(x_k, φ_b), y_k\\big),

and the outer loop trains ``θ`` on the query loss at the adapted contexts, differentiating through
the inner steps (``first_order=False``) as MAML does. After adaptation ``φ_b`` is a task embedding:
a point per task in a space the network learned, which the chapter maps against the tasks' true
parameters. All ``B`` tasks adapt at once: ``φ [B, c]``, and the gradient of the summed task
losses with respect to ``φ`` is each task's own (task ``b``'s loss depends only on ``φ_b``).

References:
    Zintgraf, Shiarlis, Kurin, Hofmann & Whiteson (2019), "Fast Context Adaptation via
    Meta-Learning", ICML.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class CAVIA(nn.Module):
    """``adapt(support_x, support_y) -> φ [B, c]``; ``predict(φ, x)``; ``forward`` = adapt, then predict the queries.

    Args:
        network: maps ``[..., d + c]`` (input and context, concatenated) to predictions.
        context_dim: ``c``.
        loss: maps predictions and targets ``[B, N, out]`` to per-example losses ``[B, N]``
            (default: the squared error, averaged over the outputs); the inner loop takes their
            mean per task.
        inner_lr, inner_steps: the inner loop (the paper uses 1.0 and 1 step for sine waves).
        first_order: drop the second-order terms of the meta-gradient.
    """

    def __init__(self, network: nn.Module, context_dim: int,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 inner_lr: float = 1.0, inner_steps: int = 1, first_order: bool = False) -> None:
        super().__init__()
        if not isinstance(context_dim, int) or context_dim < 1:
            raise ValueError(f"context_dim must be a positive integer, got {context_dim!r}")
        if not inner_lr > 0 or not isinstance(inner_steps, int) or inner_steps < 1:
            raise ValueError(f"need inner_lr > 0 and an integer inner_steps >= 1, got {inner_lr!r} and "
                             f"{inner_steps!r}")
        self.network, self.context_dim = network, context_dim
        self.loss = loss or (lambda p, y: (p - y).pow(2).mean(-1))
        self.inner_lr, self.inner_steps, self.first_order = float(inner_lr), inner_steps, first_order

    def predict(self, context: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``context [B, c]`` and inputs ``x [B, N, d]`` -> ``network(cat(x, φ))`` for every input."""
        return self.network(torch.cat([x, context[:, None].expand(-1, x.shape[1], -1)], -1))

    def task_losses(self, context: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self.predict(context, x), y).mean(-1)  # [B]

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        if support_x.dim() != 3:
            raise ValueError(f"expected support_x [B, K, d] (a batch of tasks), got {tuple(support_x.shape)}")
        context = support_x.new_zeros(support_x.shape[0], self.context_dim, requires_grad=True)
        create_graph = self.training and not self.first_order and torch.is_grad_enabled()
        for _ in range(self.inner_steps):
            with torch.enable_grad():
                total = self.task_losses(context, support_x, support_y).sum()
                (grad,) = torch.autograd.grad(total, context, create_graph=create_graph)
            context = context - self.inner_lr * grad
        return context

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        return self.predict(self.adapt(support_x, support_y), query_x)
