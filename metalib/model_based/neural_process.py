"""The latent Neural Process: a global latent variable for the function, so samples are coherent curves (Garnelo et al., 2018).

A CNP's predictions at different targets are independent given the context; it cannot draw one
*function*. The latent NP adds a global latent ``z`` inferred from a set of points:

.. math::  q(z \\mid S) = N\\big(μ(s), σ(s)^2\\big), \\quad s = \\frac{1}{|S|}\\sum_{i∈S} h(x_i, y_i),
           \\qquad p(y_t \\mid x_t, z) = N\\big(μ_t, σ_t^2\\big), \\ (μ_t, σ_t) = g(x_t, z),

trained on the evidence lower bound with the posterior from context *and* targets and the
"prior" from the context alone (the conditional prior of the paper):

.. math::  \\mathrm{ELBO} = \\mathbb{E}_{q(z|C∪T)} \\sum_t \\log p(y_t | x_t, z)
           − \\mathrm{KL}\\big(q(z | C ∪ T) \\,\\|\\, q(z | C)\\big).

References:
    Garnelo, Schwarz, Rosenbaum, Viola, Rezende, Eslami & Teh (2018), "Neural Processes", ICML
    workshop on Theoretical Foundations and Applications of Deep Generative Models.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from metalib.backbones import MLP

from .cnp import check_context


class LatentNeuralProcess(nn.Module):
    """``latent(x, y) -> Normal``; ``forward(x_c, y_c, x_t, samples)`` draws ``z`` from the context's latent."""

    def __init__(self, x_dim: int = 1, y_dim: int = 1, hidden: int = 128, latent: int = 64) -> None:
        super().__init__()
        self.encoder = MLP([x_dim + y_dim, hidden, hidden, 2 * latent], flatten_input=False)
        self.decoder = MLP([x_dim + latent, hidden, hidden, 2 * y_dim], flatten_input=False)

    def latent(self, x: torch.Tensor, y: torch.Tensor) -> Normal:
        mean, raw = self.encoder(torch.cat([x, y], -1)).mean(1).chunk(2, -1)
        return Normal(mean, 0.1 + 0.9 * torch.sigmoid(raw))

    def decode(self, z: torch.Tensor, x_target: torch.Tensor) -> Normal:
        """``z [S, B, L]`` (``S`` samples) and ``x_target [B, T, dx]`` -> ``Normal`` of ``[S, B, T, dy]``."""
        s, b, t = z.shape[0], x_target.shape[0], x_target.shape[1]
        inputs = torch.cat([x_target.expand(s, -1, -1, -1), z[:, :, None].expand(-1, -1, t, -1)], -1)
        mean, raw = self.decoder(inputs).chunk(2, -1)
        return Normal(mean, 0.1 + 0.9 * F.softplus(raw))

    def forward(self, x_context, y_context, x_target, samples: int = 1) -> Normal:
        check_context(x_context, y_context, x_target)
        return self.decode(self.latent(x_context, y_context).rsample((samples,)), x_target)

    def elbo(self, x_context, y_context, x_target, y_target, samples: int = 1) -> torch.Tensor:
        """The ELBO per target point, averaged over tasks (maximise it)."""
        check_context(x_context, y_context, x_target)
        posterior = self.latent(torch.cat([x_context, x_target], 1), torch.cat([y_context, y_target], 1))
        prior = self.latent(x_context, y_context)
        fit = self.decode(posterior.rsample((samples,)), x_target).log_prob(y_target).sum((-1, -2)).mean(0)
        kl = kl_divergence(posterior, prior).sum(-1)
        return ((fit - kl) / x_target.shape[1]).mean()
