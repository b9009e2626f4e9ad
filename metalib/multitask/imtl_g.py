"""IMTL-G: the combination whose projection on every task's gradient direction is the same (Liu et al., 2021).

Impartial multi-task learning, gradient part: find weights ``w`` with ``Σ w_i = 1`` such that the
update ``d = Jᵀ w`` makes equal angles-times-length with every task, ``d · u_i = d · u_j`` where
``u_i = g_i / ‖g_i‖``. Writing ``G = J Jᵀ`` and ``n_i = ‖g_i‖``, the condition ``(G w)_i / n_i = λ``
for all ``i`` gives

.. math::  w = \\frac{G^{+} n}{1ᵀ G^{+} n},  \\qquad  d = Jᵀ w,

with the pseudo-inverse ``G⁺`` where gradients are linearly dependent (the generalisation of
Quinton & Rey's torchjd). Scaling one loss by ``c > 0`` scales ``g_i`` and ``n_i`` by ``c``, which
leaves the unit vectors ``u_i`` and so the *direction* of ``d`` unchanged (only the normalisation
``Σ w_i = 1`` changes its length, and can flip its sign when the weights before normalising have
mixed signs, which random gradients of more than two tasks often do): the "impartial" part.
(The paper's closed form, with differences to the first task, is the same solution.)

References:
    Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang (2021), "Towards Impartial Multi-task Learning",
    ICLR.
"""
from __future__ import annotations

import torch

from .jacobian import check_jacobian
from .simplex import check_gram


def imtl_g_weights(gram: torch.Tensor) -> torch.Tensor:
    """The weights ``w [T]`` (summing to one, or all zero when no combination exists) from ``G = J Jᵀ``."""
    gram = check_gram(gram)
    v = torch.linalg.pinv(gram, hermitian=True) @ gram.diagonal().sqrt()
    total = v.sum()
    return torch.zeros_like(v) if total.abs() < 1e-12 else v / total


def imtl_g(jacobian: torch.Tensor) -> torch.Tensor:
    """IMTL-G's update ``Jᵀ w`` ``[P]``.

    Example:
        >>> imtl_g(torch.tensor([[-4.0, 1, 1], [6, 1, 1]], dtype=torch.float64))
        tensor([0.0767, 1.0000, 1.0000], dtype=torch.float64)
    """
    jacobian = check_jacobian(jacobian)
    return imtl_g_weights(jacobian @ jacobian.T) @ jacobian
