"""PCGrad: project each task's gradient off the gradients it conflicts with (Yu et al., 2020).

For each task ``i``, start from ``g_i^{PC} = g_i`` and visit the other tasks ``j`` in a random order;
whenever ``g_i^{PC}`` conflicts with ``g_j`` (negative inner product), remove its component along
``g_j``:

.. math::  g_i^{PC} ← g_i^{PC} − \\frac{g_i^{PC} · g_j}{‖g_j‖^2}\\, g_j,  \\qquad  d = \\sum_i g_i^{PC}.

(Algorithm 1 of the paper; the update is the *sum* of the projected gradients, which is what
reduces to the sum of the losses' gradient when nothing conflicts.) Every ``g_i^{PC}`` is a linear
combination of the rows of ``J``, so the method only needs the Gram matrix ``G = J Jᵀ``: it tracks
the coefficients ``c`` of ``g_i^{PC} = cᵀ J``, and ``g_i^{PC} · g_j = (G c)_j``. For two tasks the
order does not matter; for more, the result depends on the order, which the paper draws at random
(pass ``generator`` to fix it).

References:
    Yu, Kumar, Gupta, Levine, Hausman & Finn (2020), "Gradient Surgery for Multi-Task Learning",
    NeurIPS.
"""
from __future__ import annotations

import torch

from .jacobian import check_jacobian
from .simplex import host_gram


def pcgrad_weights(gram: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The weights ``w [T]`` with ``Σ_i g_i^{PC} = Jᵀ w``, from the Gram matrix ``G = J Jᵀ``.

    The visiting order of task ``i`` is ``torch.randperm(T, generator=generator)``, drawn for
    ``i = 0, 1, …`` in turn (skipping ``i`` itself).
    """
    g = host_gram(gram).tolist()  # T x T: tiny, so the loop runs on Python floats
    t = len(g)
    total = [0.0] * t
    for i in range(t):
        coefficients = [0.0] * t
        coefficients[i] = 1.0
        for j in torch.randperm(t, generator=generator).tolist():
            if j == i:
                continue
            inner = sum(a * b for a, b in zip(g[j], coefficients))
            if inner < 0 and g[j][j] > 0:
                coefficients[j] -= inner / g[j][j]
        total = [a + b for a, b in zip(total, coefficients)]
    return torch.tensor(total, dtype=gram.dtype, device=gram.device)


def pcgrad(jacobian: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """PCGrad's update ``Σ_i g_i^{PC}`` ``[P]`` from the task gradients ``jacobian [T, P]``.

    Example:
        >>> pcgrad(torch.tensor([[-4.0, 1, 1], [6, 1, 1]], dtype=torch.float64))
        tensor([0.5848, 3.8012, 3.8012], dtype=torch.float64)
    """
    jacobian = check_jacobian(jacobian)
    return pcgrad_weights(jacobian @ jacobian.T, generator) @ jacobian
