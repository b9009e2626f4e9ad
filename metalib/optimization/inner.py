"""The inner loop every optimisation-based method shares: gradient steps on a batch of tasks at once.

Each of ``B`` tasks starts from the shared parameters ``θ`` and takes ``n`` steps on its support set,

.. math::  θ^{(b)}_{t+1} = θ^{(b)}_t − α ⊙ ∇_θ L(f_{θ^{(b)}_t}; D^{(b)}_{support}),

where ``α`` is a number (MAML, Reptile) or a tensor per parameter (Meta-SGD). How it runs fast:

- the forward pass of all ``B`` tasks is **one** call: :func:`torch.func.vmap` maps
  :func:`torch.func.functional_call` over the task dimension of the per-task parameters, which turns
  every convolution and matrix product into a single batched one;
- the ``B`` gradients come from **one** ``torch.autograd.grad`` of the summed task losses: task
  ``b``'s loss depends only on its own parameters, so the gradient with respect to the stacked
  ``[B, ...]`` parameters is each task's own gradient;
- second order: ``create_graph=True`` keeps the graph of those gradients, so the meta-gradient of the
  query loss is exact (Finn et al., 2017). First order: each step's gradient is taken at a detached
  copy and its graph freed at once, so memory does not grow with the number of steps;
- the per-step losses stay on the device; they are checked for NaN once, after the loop (one
  synchronisation per meta-batch, not per step).
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch.func import functional_call, vmap

Params = dict[str, torch.Tensor]
TaskLoss = Callable[[Params, torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteInnerLossError(FloatingPointError):
    """The loss of the inner loop became NaN or infinite; the message names the step and the task.

    Attributes:
        value: the loss (NaN or ±inf); step, steps: the inner step (1-based) and the number of
        steps; task: the task's index in the meta-batch (0-based).
    """

    def __init__(self, value: float, step: int, steps: int, task: int) -> None:
        self.value, self.step, self.steps, self.task = value, step, steps, task
        super().__init__(
            f"the inner-loop loss became {value} at inner step {step} of {steps} (task {task} of the "
            f"meta-batch); lower the inner learning rate or check the support set for NaN or infinite values")

    def shifted(self, offset: int) -> "NonFiniteInnerLossError":
        """The same error for a meta-batch processed in chunks: the chunk starts at task ``offset``."""
        return NonFiniteInnerLossError(self.value, self.step, self.steps, self.task + offset)


def check_learning_rate(lr: float, name: str = "inner_lr") -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or lr != lr or lr == float("inf"):
        raise ValueError(f"{name} must be a positive number, got {lr!r}; a zero or negative step would "
                         f"not adapt (or would climb the loss)")
    return float(lr)


def check_steps(steps: int, name: str = "inner_steps", minimum: int = 1) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < minimum:
        why = " (the method adapts to each task, so it needs at least one step)" if minimum >= 1 else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{why}, got {steps!r}")
    return steps


def check_task_batch(support_x: torch.Tensor, support_y: torch.Tensor,
                     query_x: torch.Tensor | None = None) -> None:
    """``support_x [B, S, ...]`` with ``support_y [B, S, ...]``, and ``query_x [B, M, ...]`` like ``support_x``."""
    if support_x.dim() < 3 or support_y.dim() < 2:
        raise ValueError(f"expected a batch of tasks, support_x [B, S, ...] and support_y [B, S, ...], got "
                         f"{tuple(support_x.shape)} and {tuple(support_y.shape)}; add the task dimension "
                         f"with x.unsqueeze(0) for a single task")
    if support_y.shape[:2] != support_x.shape[:2]:
        raise ValueError(f"support_x {tuple(support_x.shape)} and support_y {tuple(support_y.shape)} must agree "
                         f"in their first two dimensions (tasks B, examples S)")
    if query_x is not None and (query_x.dim() != support_x.dim() or query_x.shape[0] != support_x.shape[0]
                                or query_x.shape[2:] != support_x.shape[2:]):
        raise ValueError(f"query_x {tuple(query_x.shape)} must be [B, M, ...] like support_x "
                         f"{tuple(support_x.shape)}: same tasks B and the same example shape")


def batched_call(model: torch.nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor,
                 batched: set[str] | None = None) -> torch.Tensor:
    """``model`` on each task's inputs ``x [B, P, ...]`` with its own parameters, in one call.

    Parameters named in ``batched`` carry a leading task dimension ``[B, ...]``; the others are shared
    by every task (default: all are batched).
    """
    names = list(params)
    batched = set(names) if batched is None else batched
    in_dims = ({n: (0 if n in batched else None) for n in names}, 0)
    return vmap(lambda p, xs: functional_call(model, p, (xs,)), in_dims=in_dims)(dict(params), x)


def gradient_steps(task_losses: Callable[[Params, torch.Tensor, torch.Tensor], torch.Tensor],
                   fast: Params, x: torch.Tensor, y: torch.Tensor, steps: int,
                   lr: float | Mapping[str, torch.Tensor], first_order: bool,
                   check_finite: bool = True) -> Params:
    """``steps`` gradient steps on each task's ``(x, y)``, all tasks at once.

    Args:
        task_losses: ``task_losses(params, x, y) -> [B]``, each task's loss with its own ``[B, ...]``
            parameters (each loss depends only on its task's slice).
        fast: the starting parameters, each ``[B, ...]`` (for example ``θ.expand(B, ...)``).
        x, y: the support sets ``[B, S, ...]``.
        steps: number of steps (0 returns ``fast``).
        lr: the step size, a number or ``{name: tensor}`` broadcastable to each parameter.
        first_order: drop the second-order terms (each gradient is taken at a detached copy).
        check_finite: raise :class:`NonFiniteInnerLossError` naming the first step whose loss was NaN
            or infinite (one host synchronisation after the loop).

    Returns:
        the adapted parameters ``{name: [B, ...]}``, still connected to the graph of ``fast``.
    """
    step_of = (lambda n: lr[n]) if isinstance(lr, Mapping) else (lambda n: lr)
    history = []
    for _ in range(steps):
        at = {n: w.detach().requires_grad_() for n, w in fast.items()} if first_order else fast
        losses = task_losses(at, x, y)
        grads = torch.autograd.grad(losses.sum(), list(at.values()), create_graph=not first_order)
        fast = {n: w - step_of(n) * g for (n, w), g in zip(fast.items(), grads)}
        history.append(losses.detach())
    if check_finite and history:
        check_finite_losses(torch.stack(history))
    return fast


def check_finite_losses(history: torch.Tensor) -> None:
    """``history [steps, B]``: raise naming the first inner step (1-based) whose loss is NaN or infinite."""
    finite = torch.isfinite(history)
    if bool(finite.all()):
        return
    step, task = (~finite).nonzero()[0].tolist()
    raise NonFiniteInnerLossError(history[step, task].item(), step + 1, history.shape[0], task)
