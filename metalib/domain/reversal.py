r"""The gradient-reversal layer of DANN: the identity going forward, ``-λ`` times the gradient going back.

Ganin et al. (2016) train a feature extractor ``f``, a label classifier ``g_y`` and a domain
classifier ``g_d`` together. ``g_d`` learns to tell source features from target features; ``f`` is
pushed the other way, towards features ``g_d`` cannot tell apart. Both happen in one backward pass
when the domain classifier reads the features through :math:`R_λ`,

.. math::  R_λ(z) = z, \qquad \frac{∂ R_λ}{∂ z} = −λ I,

so that minimising the domain loss ``L_d(g_d(R_λ(f(x))))`` descends it in ``g_d``'s parameters and
ascends it (times ``λ``) in ``f``'s. The paper raises ``λ`` from 0 to 1 over training,
:math:`λ_p = 2 / (1 + e^{−10 p}) − 1` at progress ``p ∈ [0, 1]`` (:func:`ganin_schedule`), so that
the noisy early domain signal does not disturb the label classifier.

Reference: Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand & Lempitsky (2016),
"Domain-Adversarial Training of Neural Networks", JMLR 17(59).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"the reversal scale λ must be a finite number >= 0, got {scale!r}; λ = 0 cuts the "
                         f"domain loss off from the features, λ = 1 is the paper's final value")
    return float(scale)


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``x`` unchanged; in the backward pass its gradient is multiplied by ``-scale``."""
    return _ReverseGradient.apply(x, _check_scale(scale))


class GradientReversal(nn.Module):
    """:func:`reverse_gradient` as a layer; set ``scale`` between steps to follow a schedule."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = _check_scale(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def ganin_schedule(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s ``λ_p = 2 / (1 + exp(-γ p)) - 1``: 0 at ``p = 0``, 0.987 at ``p = 0.5``, → 1."""
    if not 0 <= progress <= 1:
        raise ValueError(f"progress must lie in [0, 1] (the step divided by the number of steps), got {progress}")
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0
