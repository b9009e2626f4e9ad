"""The task gradients of the shared parameters, from one batched backward pass.

Gradient-combination methods (PCGrad, MGDA, IMTL-G, CAGrad) need the Jacobian of the ``T`` task
losses with respect to the shared parameters ``θ_s``, one row per task:

.. math::  J = \\begin{bmatrix} ∇_{θ_s} L_1 & \\cdots & ∇_{θ_s} L_T \\end{bmatrix}^T ∈ ℝ^{T × P}.

A loop of ``T`` calls to ``backward`` walks the graph ``T`` times. :func:`task_jacobian` instead
asks ``torch.autograd.grad`` for the vector-Jacobian products with the ``T`` rows of the identity
at once (``is_grads_batched=True``): autograd runs the backward pass once, under ``vmap``, so each
layer's backward is one batched matrix product over the tasks. ``benchmarks/multitask_speed.py``
measures the difference.

Each method then returns one vector ``d [P]`` (:func:`mean_gradient` is the equal-weighting
baseline), and :func:`write_gradients` puts it into the shared parameters' ``.grad`` for any
``torch.optim`` optimiser.
"""
from __future__ import annotations

from typing import Sequence

import torch


def check_jacobian(jacobian: torch.Tensor) -> torch.Tensor:
    if not isinstance(jacobian, torch.Tensor) or jacobian.dim() != 2 or 0 in jacobian.shape:
        shape = tuple(jacobian.shape) if isinstance(jacobian, torch.Tensor) else type(jacobian).__name__
        raise ValueError(f"expected a Jacobian [T, P]: one row per task, one column per shared parameter, "
                         f"got {shape}; flatten each task's gradient into a row (task_jacobian does)")
    if not torch.isfinite(jacobian).all():
        bad = (~torch.isfinite(jacobian)).any(1).nonzero().flatten().tolist()
        raise ValueError(f"the gradients of tasks {bad} hold NaN or infinite values; check those losses "
                         f"(and the learning rate) before combining the gradients")
    return jacobian


def task_jacobian(losses: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool = False
                  ) -> torch.Tensor:
    """``J [T, P]``: the gradients of the ``T`` losses ``[T]`` with respect to ``params``, flattened.

    One backward pass over the batch of the ``T`` unit vectors (``is_grads_batched``). A parameter
    that a loss does not reach gets zeros in that row.
    """
    if losses.dim() != 1 or losses.numel() == 0:
        raise ValueError(f"losses must be a vector [T] of task losses, got shape {tuple(losses.shape)}; "
                         f"stack them with torch.stack([loss_1, ..., loss_T])")
    params = list(params)
    eye = torch.eye(losses.numel(), dtype=losses.dtype, device=losses.device)
    grads = torch.autograd.grad(losses, params, grad_outputs=eye, is_grads_batched=True,
                                retain_graph=retain_graph, allow_unused=True, materialize_grads=True)
    return torch.cat([g.reshape(losses.numel(), -1) for g in grads], 1)


def task_jacobian_loop(losses: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool = False
                       ) -> torch.Tensor:
    """The same Jacobian from ``T`` separate backward passes: the reference (and the slow way)."""
    params = list(params)
    rows = []
    for i in range(losses.numel()):
        keep = retain_graph or i < losses.numel() - 1
        grads = torch.autograd.grad(losses[i], params, retain_graph=keep, allow_unused=True,
                                    materialize_grads=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def mean_gradient(jacobian: torch.Tensor) -> torch.Tensor:
    """Equal weighting: ``(1/T) Σ_i g_i``, the gradient of the mean loss."""
    return check_jacobian(jacobian).mean(0)


def write_gradients(params: Sequence[torch.Tensor], flat: torch.Tensor, accumulate: bool = False) -> None:
    """Unflatten ``flat [P]`` into the ``.grad`` of ``params`` (added to what is there with ``accumulate``)."""
    params = list(params)
    total = sum(p.numel() for p in params)
    if flat.shape != (total,):
        raise ValueError(f"the combined gradient has shape {tuple(flat.shape)} but the parameters hold "
                         f"{total} numbers; pass the same parameters, in the same order, as to task_jacobian")
    offset = 0
    for p in params:
        piece = flat[offset:offset + p.numel()].view_as(p).to(p.dtype)
        offset += p.numel()
        if accumulate and p.grad is not None:
            p.grad.add_(piece)
        else:
            p.grad = piece.clone()
