"""CAGrad: the best worst-case improvement within a ball around the average gradient (Liu et al., 2021).

Conflict-averse gradient descent looks for the update ``d`` that maximises the smallest first-order
improvement of any task, ``min_i g_i · d``, among the vectors within ``c ‖g_0‖`` of the average
gradient ``g_0 = (1/T) Σ_i g_i``. Its dual is a problem over the task weights ``w ∈ Δ`` (``g_w = Jᵀ w``):

.. math::  w^* = \\arg\\min_{w ∈ Δ}\\; g_w · g_0 + \\sqrt{φ}\\, ‖g_w‖,  \\quad  \\sqrt{φ} = c ‖g_0‖,
           \\qquad  d = g_0 + \\frac{\\sqrt{φ}}{‖g_{w^*}‖}\\, g_{w^*}.

``c = 0`` is plain averaging; as ``c`` grows ``d`` turns towards MGDA's direction. The paper's code
divides ``d`` by ``1 + c²`` (``rescale=True``); the default here does not, like torchjd. Everything is
a function of the Gram matrix ``G = J Jᵀ``: ``g_w · g_0 = wᵀ G 1 / T`` and ``‖g_w‖² = wᵀ G w``. The dual
is convex and solved exactly, face by face of the simplex (:mod:`metalib.multitask.simplex`; the
paper uses ``scipy.optimize.minimize``).

When ``g_{w*} = 0`` (the average gradient is already Pareto-stationary there) the update is zero.

References:
    Liu, Liu, Jin, Stone & Liu (2021), "Conflict-Averse Gradient Descent for Multi-task Learning",
    NeurIPS.
"""
from __future__ import annotations

import numpy as np
import torch

from .jacobian import check_jacobian
from .simplex import host_gram, newton_on_faces


def cagrad_weights(gram: torch.Tensor, c: float = 0.5, rescale: bool = False) -> torch.Tensor:
    """The weights ``v [T]`` with ``d = Jᵀ v`` (``v = 1/T + (√φ / ‖g_w*‖) w*``), from ``G = J Jᵀ``."""
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not c >= 0:
        raise ValueError(f"c must be a number >= 0 (the radius of the ball, in units of the average "
                         f"gradient's norm; 0.4 to 0.5 in the paper), got {c!r}")
    g = host_gram(gram)
    t = g.shape[0]
    g = g / max(g.diagonal().max(), np.finfo(np.float64).tiny)  # the weights do not depend on the scale
    b = g.sum(1) / t
    root_phi = c * np.sqrt(max(b.sum() / t, 0.0))
    tiny = np.finfo(np.float64).eps ** 2

    def objective(w: np.ndarray) -> np.ndarray:
        return w @ b + root_phi * np.sqrt(np.maximum(np.einsum("fi,ij,fj->f", w, g, w), tiny))

    def gradient_hessian(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gw = w @ g
        norm = np.sqrt(np.maximum((gw * w).sum(1, keepdims=True), tiny))
        grad = b + root_phi * gw / norm
        hess = root_phi * (g / norm[:, :, None] - gw[:, :, None] * gw[:, None, :] / norm[:, :, None] ** 3)
        return grad, hess

    w = newton_on_faces(g, objective, gradient_hessian)
    squared = w @ g @ w
    if squared <= 1e3 * torch.finfo(gram.dtype).eps:  # round-off level of the input: g_w* = 0
        return torch.zeros_like(gram[0])
    v = 1 / t + root_phi / np.sqrt(squared) * w
    v = v / (1 + c ** 2) if rescale else v
    return torch.from_numpy(v).to(gram.device, gram.dtype)


def cagrad(jacobian: torch.Tensor, c: float = 0.5, rescale: bool = False) -> torch.Tensor:
    """CAGrad's update ``d`` ``[P]`` from the task gradients ``jacobian [T, P]``.

    Example:
        >>> cagrad(torch.tensor([[-4.0, 1, 1], [6, 1, 1]], dtype=torch.float64), c=0.5)
        tensor([0.1835, 1.2041, 1.2041], dtype=torch.float64)
    """
    jacobian = check_jacobian(jacobian)
    return cagrad_weights(jacobian @ jacobian.T, c, rescale) @ jacobian
