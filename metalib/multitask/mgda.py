"""MGDA: the min-norm point of the convex hull of the task gradients (Sener & Koltun, 2018).

The multiple-gradient descent algorithm (Désidéri, 2012) steps along the shortest vector in the
convex hull of the task gradients ``g_1, …, g_T`` (the rows of the Jacobian ``J``):

.. math::  w^* = \\arg\\min_{w ∈ Δ} \\Big\\| \\sum_i w_i g_i \\Big\\|^2,  \\qquad  d = Jᵀ w^*.

If ``d ≠ 0`` then ``g_i · d ≥ ‖d‖² > 0`` for every task (the optimality condition of the min-norm
point), so a small step along ``d`` lowers every loss; ``d = 0`` means the parameters are Pareto
stationary. For two tasks the minimiser has a closed form,
``w_1 = clip((g_2 − g_1)·g_2 / ‖g_1 − g_2‖², 0, 1)``; for more, :func:`min_norm_weights` solves the
problem exactly, face by face (Sener & Koltun use Frank-Wolfe iterations).

References:
    Sener & Koltun (2018), "Multi-Task Learning as Multi-Objective Optimization", NeurIPS.
    Désidéri (2012), "Multiple-gradient descent algorithm (MGDA) for multiobjective optimization",
    Comptes Rendus Mathématique 350(5-6).
"""
from __future__ import annotations

import torch

from .jacobian import check_jacobian
from .simplex import min_norm_weights


def mgda_weights(gram: torch.Tensor) -> torch.Tensor:
    """The task weights ``w* ∈ Δ`` ``[T]`` of the min-norm point (they sum to one), from ``G = J Jᵀ``."""
    return min_norm_weights(gram)


def mgda(jacobian: torch.Tensor) -> torch.Tensor:
    """The min-norm combination ``Jᵀ w*`` ``[P]`` of the rows of ``jacobian [T, P]``.

    Example (the two conflicting gradients of torchjd's tests):
        >>> mgda(torch.tensor([[-4.0, 1, 1], [6, 1, 1]], dtype=torch.float64)).round(decimals=12)
        tensor([0., 1., 1.], dtype=torch.float64)
    """
    jacobian = check_jacobian(jacobian)
    return mgda_weights(jacobian @ jacobian.T) @ jacobian
