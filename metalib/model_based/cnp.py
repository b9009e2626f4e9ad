"""Conditional Neural Process: a learner that reads a context set and predicts a distribution (Garnelo et al., 2018).

Every context pair ``(x_i, y_i)`` is encoded by one network ``h``, the codes are averaged into a
task representation ``r`` (a mean: the same for any order of the context, and defined for any
number of points), and a decoder ``g`` maps each target input with ``r`` to a Gaussian:

.. math::  r = \\frac{1}{C} \\sum_{i=1}^{C} h(x_i, y_i), \\qquad
           (μ_t, σ_t) = g(x_t, r), \\quad σ_t = 0.1 + 0.9\\,\\mathrm{softplus}(\\cdot),

trained by maximising the targets' log-likelihood ``Σ_t log N(y_t; μ_t, σ_t²)`` over tasks
(the lower bound on σ keeps the likelihood finite early in training, as in the paper's code).
The whole batch of tasks runs as one call: tensors ``[B, points, features]``.

References:
    Garnelo, Rosenbaum, Maddison, Ramalho, Saxton, Shanahan, Teh, Rezende & Eslami (2018),
    "Conditional Neural Processes", ICML.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metalib.backbones import MLP


def check_context(x_context: torch.Tensor, y_context: torch.Tensor, x_target: torch.Tensor) -> None:
    if x_context.dim() != 3 or y_context.shape[:2] != x_context.shape[:2] or x_target.dim() != 3:
        raise ValueError(f"expected x_context [B, C, dx], y_context [B, C, dy] and x_target [B, T, dx], got "
                         f"{tuple(x_context.shape)}, {tuple(y_context.shape)} and {tuple(x_target.shape)}")
    if x_context.shape[1] == 0:
        raise ValueError("a neural process needs at least one context point (C >= 1) to form its "
                         "representation; the GP prior is the answer with no context")


class ConditionalNeuralProcess(nn.Module):
    """``forward(x_c, y_c, x_t) -> (mean, sigma)``, each ``[B, T, dy]``."""

    def __init__(self, x_dim: int = 1, y_dim: int = 1, hidden: int = 128, representation: int = 128) -> None:
        super().__init__()
        self.encoder = MLP([x_dim + y_dim, hidden, hidden, representation], flatten_input=False)
        self.decoder = MLP([x_dim + representation, hidden, hidden, 2 * y_dim], flatten_input=False)

    def represent(self, x_context: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([x_context, y_context], -1)).mean(1)  # [B, r]

    def forward(self, x_context: torch.Tensor, y_context: torch.Tensor, x_target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        check_context(x_context, y_context, x_target)
        r = self.represent(x_context, y_context)
        out = self.decoder(torch.cat([x_target, r[:, None].expand(-1, x_target.shape[1], -1)], -1))
        mean, raw = out.chunk(2, -1)
        return mean, 0.1 + 0.9 * F.softplus(raw)

    def log_likelihood(self, x_context, y_context, x_target, y_target) -> torch.Tensor:
        """Mean over tasks and target points of ``log N(y_t; μ_t, σ_t²)`` (maximise it)."""
        mean, sigma = self(x_context, y_context, x_target)
        return torch.distributions.Normal(mean, sigma).log_prob(y_target).mean()
