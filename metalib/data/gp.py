"""1-D functions drawn from Gaussian processes, and the exact GP posterior: the neural processes' data and oracle.

Each task is one function ``f ~ GP(0, k)`` observed with Gaussian noise, ``y = f(x) + ε``,
``ε ~ N(0, σ_n²)``, at inputs drawn uniformly from ``[-2, 2]``; a random subset of the points is
the *context*, the rest the *targets* (Garnelo et al., 2018, "Conditional Neural Processes", ICML).
Two kernels:

- ``"rbf"``: ``k(x, x') = s² exp(−(x − x')² / (2 ℓ²))``, smooth curves;
- ``"periodic"``: ``k(x, x') = s² exp(−2 sin²(π |x − x'| / p) / ℓ²)``, where CNPs underfit.

Because the functions come from a known GP, the best possible predictor is known too: the GP
posterior given the context (:func:`gp_posterior`, a batched Cholesky solve), whose log-likelihood
of the targets is the ceiling a neural process can approach (the *oracle*).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

KERNELS = ("rbf", "periodic")


@dataclass(frozen=True)
class GPTasks:
    """A batch of ``B`` function-regression tasks: context ``x_c, y_c [B, C, 1]`` and targets ``x_t, y_t [B, T, 1]``."""

    x_context: torch.Tensor
    y_context: torch.Tensor
    x_target: torch.Tensor
    y_target: torch.Tensor


def kernel_matrix(x1: torch.Tensor, x2: torch.Tensor, kernel: str = "rbf", scale: float = 1.0,
                  length: float = 0.4, period: float = 1.0) -> torch.Tensor:
    """``k(x1, x2)`` ``[B, N, M]`` for inputs ``[B, N, 1]`` and ``[B, M, 1]``."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    diff = x1 - x2.transpose(-1, -2)
    if kernel == "rbf":
        return scale ** 2 * torch.exp(-0.5 * (diff / length) ** 2)
    return scale ** 2 * torch.exp(-2 * torch.sin(math.pi * diff.abs() / period) ** 2 / length ** 2)


def sample_gp_tasks(batch: int, num_context: int, num_target: int, kernel: str = "rbf", noise: float = 0.1,
                    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                    **kernel_args) -> GPTasks:
    """``batch`` functions from the GP, each observed at ``num_context + num_target`` random inputs."""
    for name, value, low in (("batch", batch, 1), ("num_context", num_context, 0), ("num_target", num_target, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    n = num_context + num_target
    x = 4 * torch.rand(batch, n, 1, generator=generator, dtype=torch.float64) - 2
    cov = kernel_matrix(x, x, kernel, **kernel_args) + (noise ** 2 + 1e-6) * torch.eye(n, dtype=torch.float64)
    y = torch.linalg.cholesky(cov) @ torch.randn(batch, n, 1, generator=generator, dtype=torch.float64)
    x, y = x.to(dtype), y.to(dtype)
    return GPTasks(x[:, :num_context], y[:, :num_context], x[:, num_context:], y[:, num_context:])


def gp_posterior(x_context: torch.Tensor, y_context: torch.Tensor, x_target: torch.Tensor, kernel: str = "rbf",
                 noise: float = 0.1, **kernel_args) -> tuple[torch.Tensor, torch.Tensor]:
    """The GP's predictive mean and variance of noisy ``y`` at ``x_target`` ``[B, T, 1]`` given the context.

    .. math::  μ = K_{tc} (K_{cc} + σ_n² I)^{-1} y_c, \\qquad
               σ² = k(x_t, x_t) + σ_n² − \\mathrm{diag}(K_{tc} (K_{cc} + σ_n² I)^{-1} K_{ct}),

    computed in float64 with one batched Cholesky factorisation. With no context it is the prior.
    """
    x_c, y_c, x_t = (t.double() for t in (x_context, y_context, x_target))
    prior = kernel_matrix(x_t, x_t, kernel, **kernel_args).diagonal(dim1=-2, dim2=-1)[..., None] + noise ** 2
    if x_c.shape[-2] == 0:
        return torch.zeros_like(x_t), prior
    k_cc = kernel_matrix(x_c, x_c, kernel, **kernel_args) + (noise ** 2 + 1e-6) * torch.eye(
        x_c.shape[-2], dtype=torch.float64)
    k_tc = kernel_matrix(x_t, x_c, kernel, **kernel_args)
    chol = torch.linalg.cholesky(k_cc)
    alpha = torch.cholesky_solve(y_c, chol)
    v = torch.linalg.solve_triangular(chol, k_tc.transpose(-1, -2), upper=False)
    return k_tc @ alpha, prior - (v ** 2).sum(-2)[..., None]


def gaussian_log_likelihood(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Mean over tasks and points of ``log N(y; mean, var)``: the per-target-point score of the chapter."""
    return (-0.5 * (math.log(2 * math.pi) + torch.log(var) + (y - mean) ** 2 / var)).mean()
