"""Task affinity by lookahead: how much one task's step helps another's loss (TAG, Fifty et al., 2021).

At training step ``t``, take a lookahead step on the shared parameters with task ``i``'s gradient
only, and see what it does to every task ``j``'s loss on the same batch:

.. math::  θ_{s|i}^{t+1} = θ_s^t − η ∇_{θ_s} L_i,  \\qquad
           Z^t_{i→j} = 1 − \\frac{L_j(θ_{s|i}^{t+1}, θ_j^t)}{L_j(θ_s^t, θ_j^t)}.

``Z_{i→j} > 0``: task ``i``'s step lowered ``j``'s loss (affinity); ``< 0``: it raised it (conflict).
Averaged over training, ``Z`` is the *affinity matrix*; :func:`metalib.multitask.grouping.best_grouping`
then picks the tasks to train together. The ``T`` lookahead evaluations need only forward passes,
batched with ``vmap`` over the ``T`` lookahead parameter sets.

References:
    Fifty, Amid, Zhao, Yu, Anil & Finn (2021), "Efficiently Identifying Task Groupings for Multi-Task
    Learning", NeurIPS.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch.func import vmap

from .jacobian import check_jacobian


def lookahead_affinity(losses_at: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
                       shared: Mapping[str, torch.Tensor], jacobian: torch.Tensor, lr: float) -> torch.Tensor:
    """``Z [T, T]`` with ``Z[i, j] = 1 − L_j(θ_s − η g_i) / L_j(θ_s)`` at the current batch.

    Args:
        losses_at: maps shared parameters (a dict of tensors, as in ``shared``) to the task losses
            ``[T]`` on the current batch, the heads held fixed; it must work under ``vmap``.
        shared: the shared parameters ``θ_s`` now.
        jacobian: ``[T, P]``, the task gradients of the shared parameters, flattened in ``shared``'s
            order (:func:`metalib.multitask.jacobian.task_jacobian`).
        lr: the lookahead step ``η`` (the training learning rate).
    """
    jacobian = check_jacobian(jacobian)
    if not lr > 0:
        raise ValueError(f"lr must be > 0 (the lookahead step), got {lr!r}")
    with torch.no_grad():
        now = losses_at(dict(shared))
        stepped, offset = {}, 0
        for name, p in shared.items():
            g = jacobian[:, offset:offset + p.numel()].view(-1, *p.shape)
            stepped[name] = p.detach().unsqueeze(0) - lr * g.to(p.dtype)
            offset += p.numel()
        after = vmap(losses_at)(stepped)  # [T lookaheads, T losses]
        return 1 - after / now.unsqueeze(0)
