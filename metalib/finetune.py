"""Fine-tuning as a mapping: K examples in, adapted parameters out, for a whole batch of tasks at once.

Gradient descent on a task's support set is the simplest *learner*, a mapping from a data set to a
function. Starting from parameters ``θ`` it takes ``n`` steps

.. math::  θ_{t+1} = θ_t − α ∇_θ L(f_{θ_t}; D_{support}),

and returns ``θ_n``. :func:`adapt` runs it for ``B`` tasks in one go: ``torch.func.vmap`` maps it over
the task dimension and ``torch.func.grad`` gives each task its own gradient, so there is no Python loop
over tasks or examples. With ``differentiable=True`` the result keeps its dependence on ``θ`` and can be
differentiated again: that is the inner loop of MAML (Finn, Abbeel & Levine, 2017).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

Params = dict[str, torch.Tensor]


def parameters_of(model: torch.nn.Module) -> Params:
    """The model's parameters as a dict of tensors (detached copies that require grad)."""
    return {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()}


def adapt(model: torch.nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, steps: int,
          lr: float, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.mse_loss,
          differentiable: bool = False) -> Params:
    """``steps`` of plain gradient descent on each task's ``(x, y)``, for a batch of tasks.

    Args:
        model: the network; only its structure is used (:func:`torch.func.functional_call`).
        params: starting parameters, shared by every task (``{name: tensor}``) or one set per task
            (each tensor with a leading task dimension ``B``).
        x, y: the tasks' support sets, ``[B, K, ...]``.
        steps: gradient steps (0 returns the starting point, broadcast over tasks).
        lr: the step size ``α`` (> 0).
        loss: ``loss(prediction, target) -> scalar`` (default mean squared error).
        differentiable: keep the graph so the result can be differentiated with respect to
            ``params`` (second-order MAML); otherwise the result is detached.

    Returns:
        adapted parameters, each with a leading task dimension ``B``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"the learning rate must be positive, got {lr!r}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same tasks, got {x.shape[0]} and {y.shape[0]} tasks")
    shared = all(p.dim() == model.get_parameter(n).dim() for n, p in params.items())

    def task_loss(p: Params, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return loss(functional_call(model, p, (xs,)), ys)

    def one_task(p: Params, xs: torch.Tensor, ys: torch.Tensor) -> Params:
        for _ in range(steps):
            g = grad(task_loss)(p, xs, ys)
            p = {name: w - lr * g[name] for name, w in p.items()}
        return p

    if not differentiable:  # start from detached copies, so that no graph back to params is built
        params = {name: w.detach() for name, w in params.items()}
    return vmap(one_task, in_dims=(None if shared else 0, 0, 0))(params, x, y)


def predict(model: torch.nn.Module, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Each task's predictions ``[B, M, ...]`` at its inputs ``x [B, M, ...]`` with its own ``params``."""
    return vmap(lambda p, xs: functional_call(model, p, (xs,)))(params, x)
