"""Sinusoid regression tasks, the first test bed of MAML (Finn, Abbeel & Levine, 2017, section 5.1).

Every task is a function ``y = A · sin(x − φ)`` with amplitude ``A ~ U[0.1, 5]`` and phase
``φ ~ U[0, π]``; its examples are ``x ~ U[−5, 5]`` with their exact ``y`` (no noise). A learner sees
``K`` points of one such function and must predict it everywhere else. A batch of ``B`` tasks is drawn
in one go on the device: no loop over tasks or points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..device import get_device


@dataclass
class RegressionEpisode:
    """A batch of ``B`` regression tasks.

    Attributes:
        support_x, support_y: ``[B, K, 1]``, the K points each learner adapts on.
        query_x, query_y: ``[B, Q, 1]``, where it is scored.
        amplitude, phase: ``[B]``, the true parameters of each task (for plots and checks).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    amplitude: torch.Tensor
    phase: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.support_x.shape[0]


class SinusoidTasks:
    """A family of sinusoid regression tasks ``y = A · sin(x − φ)``.

    Args:
        amplitude: range of ``A`` (default ``(0.1, 5.0)``, as in MAML).
        phase: range of ``φ`` (default ``(0, π)``).
        x_range: range of the inputs (default ``(−5, 5)``).
        device: where tasks are built (default :func:`metalib.get_device`).
        seed: seed of the family's own generator; the same seed gives the same tasks.

    Example:
        >>> tasks = SinusoidTasks(seed=0, device="cpu")
        >>> ep = tasks.sample(batch_size=25, k_shot=10, n_query=100)
        >>> ep.support_x.shape, ep.query_y.shape
        (torch.Size([25, 10, 1]), torch.Size([25, 100, 1]))
    """

    def __init__(self, amplitude: tuple[float, float] = (0.1, 5.0),
                 phase: tuple[float, float] = (0.0, math.pi), x_range: tuple[float, float] = (-5.0, 5.0),
                 device: torch.device | str | None = None, seed: int = 0) -> None:
        for label, (lo, hi) in (("amplitude", amplitude), ("phase", phase), ("x_range", x_range)):
            if not lo <= hi:
                raise ValueError(f"{label} must be a range (low, high) with low <= high, got {(lo, hi)}")
        self.amplitude, self.phase, self.x_range = tuple(amplitude), tuple(phase), tuple(x_range)
        self.device = torch.device(device) if device is not None else get_device()
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def __repr__(self) -> str:
        return (f"SinusoidTasks(A in {self.amplitude}, phase in ({self.phase[0]:.3g}, {self.phase[1]:.3g}), "
                f"x in {self.x_range}, on {self.device})")

    @staticmethod
    def function(amplitude: torch.Tensor, phase: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``A · sin(x − φ)`` for tasks ``[B]`` at inputs ``x [B, M, 1]`` (or ``[M, 1]`` shared)."""
        return amplitude.view(-1, 1, 1) * torch.sin(x - phase.view(-1, 1, 1))

    def _uniform(self, shape: tuple[int, ...], low_high: tuple[float, float]) -> torch.Tensor:
        lo, hi = low_high
        return lo + (hi - lo) * torch.rand(shape, generator=self.generator, device=self.device)

    def sample(self, batch_size: int, k_shot: int, n_query: int = 100) -> RegressionEpisode:
        """``batch_size`` tasks, each with ``k_shot`` support and ``n_query`` query points."""
        for label, v, least in (("batch_size", batch_size, 1), ("k_shot", k_shot, 1), ("n_query", n_query, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise ValueError(f"{label} must be an integer >= {least}, got {v!r}")
        a = self._uniform((batch_size,), self.amplitude)
        p = self._uniform((batch_size,), self.phase)
        x = self._uniform((batch_size, k_shot + n_query, 1), self.x_range)
        y = self.function(a, p, x)
        return RegressionEpisode(x[:, :k_shot], y[:, :k_shot], x[:, k_shot:], y[:, k_shot:], a, p)

    def grid(self, points: int = 200) -> torch.Tensor:
        """Evenly spaced inputs ``[points, 1]`` over ``x_range``, for plotting fits."""
        return torch.linspace(*self.x_range, points, device=self.device).unsqueeze(-1)
