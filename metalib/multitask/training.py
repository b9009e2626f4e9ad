"""The loop every multi-task method in the chapter shares: losses in, one optimiser step out.

A method is either a **loss weighting** (it turns the ``T`` losses into one scalar, and a plain
``backward`` does the rest) or a **gradient combination** (it needs each task's gradient of the
shared parameters and returns one update). :class:`MultiTaskStep` hides the difference:

- ``"equal"``, ``"log_sum"``, ``"uncertainty"``, ``"gradnorm"``, ``"dwa"``, ``"famo"``:
  ``weighting(losses).backward()`` (FAMO then reads the losses after the step: from a forward pass
  on the same batch, ``step(losses, after=...)``, or from the next step's losses);
- ``"mean"``, ``"pcgrad"``, ``"mgda"``, ``"imtl_g"``, ``"cagrad"``: one batched backward gives the
  Jacobian of all losses with respect to the shared *and* the task parameters
  (:func:`~metalib.multitask.jacobian.task_jacobian`); the method combines the shared columns, and
  each head gets its own task's gradient (the sum of its columns, which are zero for other tasks).
  For a trunk of linear layers (``trunk=``, ``heads=``) the step needs only the Gram matrix
  ``J Jᵀ`` (:mod:`metalib.multitask.gramian`): the same update, without forming ``J``.

Data-parallel over several processes (``ranks=``, :mod:`metalib.distributed`), each rank holds part
of the batch and its losses are means over that part: the mean of the ranks' Jacobians is the
Jacobian of the whole batch, so the gradient methods average ``J`` (``T x n`` numbers) before they
combine it, and the weightings that are linear in the losses average the gradients after
``backward``. Log-sum, GradNorm and DWA depend non-linearly on the losses (or on gradient norms) and
would change; they, and the Gram path, run in one process only.

Scales differ (PCGrad returns a sum of ``T`` gradients, MGDA a convex combination); with Adam, which
divides by a running gradient scale, that matters little.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ..distributed import Ranks
from . import AGGREGATORS
from .cagrad import cagrad_weights
from .dwa import DynamicWeightAverage
from .famo import FAMO
from .gradnorm import GradNorm
from .gramian import LinearGramian
from .imtl_g import imtl_g_weights
from .jacobian import task_jacobian, write_gradients
from .mgda import mgda_weights
from .pcgrad import pcgrad_weights
from .scalarization import equal_weighting, log_sum
from .uncertainty import UncertaintyWeighting

WEIGHTINGS = ("equal", "log_sum", "uncertainty", "gradnorm", "dwa", "famo")
METHODS = WEIGHTINGS + tuple(k for k in AGGREGATORS if k != "mean")
GRAM_WEIGHTS = {"mean": lambda g: torch.full((g.shape[0],), 1 / g.shape[0], dtype=g.dtype, device=g.device),
                "pcgrad": pcgrad_weights, "mgda": mgda_weights, "imtl_g": imtl_g_weights,
                "cagrad": cagrad_weights}
"""The weights ``w(G)`` of each gradient method, from the Gram matrix; its update is ``Jᵀ w``."""


class MultiTaskStep:
    """``step(losses)``: one optimiser step of ``method`` on a model with shared and task parameters.

    Args:
        shared, task: the shared parameters (trunk) and the task-specific ones (heads).
        method: one of :data:`METHODS`.
        kinds: each task's ``"regression"`` or ``"classification"`` (uncertainty weighting only).
        lr: Adam's learning rate for the network.
        weighting_lr: the learning rate of the method's own parameters (uncertainty weighting's
            log-variances, GradNorm's weights); ``None``: the same as ``lr``.
        last_shared: GradNorm's layer ``W`` (default: the last two shared tensors, a linear layer).
        dwa_window: steps per DWA "epoch".
        aggregator_options: keyword arguments of the gradient method (CAGrad's ``c``) or of
            :class:`~metalib.multitask.famo.FAMO` (``lr``, ``weight_decay``).
        trunk: for a gradient method, the module holding the shared parameters, when it is made of
            linear layers only (and parameter-free ones): the step then forms the Gram matrix of the
            task gradients instead of their Jacobian (:mod:`metalib.multitask.gramian`), the same
            update at a fraction of the cost. Without it, the Jacobian from one batched backward.
        heads: with ``trunk``, the task heads (each reads the trunk's output).
        ranks: the processes that share each batch (:func:`metalib.distributed.setup`); default one.
    """

    def __init__(self, shared: Sequence[nn.Parameter], task: Sequence[nn.Parameter], method: str,
                 kinds: Sequence[str], lr: float = 1e-3, weighting_lr: float | None = None,
                 last_shared: Sequence[nn.Parameter] | None = None, dwa_window: int = 20,
                 aggregator_options: dict | None = None, trunk: nn.Module | None = None,
                 heads: Sequence[nn.Module] | None = None, ranks: Ranks | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        self.ranks = ranks or Ranks()
        if self.ranks.world_size > 1 and method in ("log_sum", "gradnorm", "dwa", "famo"):
            raise ValueError(f"{method} does not split over {self.ranks.world_size} processes: it is not "
                             f"linear in the per-process losses; run it in one process or choose another method")
        if self.ranks.world_size > 1 and trunk is not None and method in AGGREGATORS:
            raise ValueError(f"the Gram path (trunk=...) does not split over {self.ranks.world_size} "
                             f"processes (the Gram matrix of a sum is not the sum of Gram matrices); "
                             f"leave trunk out to average the task Jacobians instead")
        self.shared, self.task, self.method = list(shared), list(task), method
        self.kinds = list(kinds)
        groups: list[dict] = [{"params": self.shared + self.task, "lr": lr}]
        self.weighting: nn.Module | DynamicWeightAverage | FAMO | None = None
        if method == "uncertainty":
            self.weighting = UncertaintyWeighting(self.kinds)
            groups += self.weighting.parameter_groups(weighting_lr or lr)
        elif method == "gradnorm":
            self.weighting = GradNorm(len(self.kinds))
            groups.append({"params": [self.weighting.weights], "lr": weighting_lr or lr})
            self.last_shared = list(last_shared) if last_shared is not None else self.shared[-2:]
        elif method == "dwa":
            self.weighting = DynamicWeightAverage(len(self.kinds))
        elif method == "famo":
            self.weighting = FAMO(len(self.kinds), **(aggregator_options or {}))
        self.optimizer = torch.optim.Adam(groups)
        self.aggregator: Callable | None = AGGREGATORS.get(method)
        self.options = aggregator_options or {}
        self.dwa_window, self.steps = dwa_window, 0
        self.gramian = None
        if trunk is not None and self.aggregator is not None:
            if heads is None:
                raise ValueError("trunk=... needs heads=... too: the modules that read the trunk's output")
            self.gramian = LinearGramian(trunk, heads)
            trunk_params = {id(p) for p in trunk.parameters()}
            if trunk_params != {id(p) for p in self.shared}:
                raise ValueError("with trunk=..., the shared parameters must be exactly the trunk's")
            self.head_params = [p for head in self.gramian.heads for p in head.parameters()]
            if {id(p) for p in self.head_params} != {id(p) for p in self.task}:
                raise ValueError("with heads=..., the task parameters must be exactly the heads'")

    def step(self, losses: torch.Tensor, after: Callable[[], torch.Tensor] | None = None) -> None:
        """One optimiser step on the task losses ``[T]``; nothing is changed if a loss is NaN or infinite.

        ``after`` (FAMO only): recomputes the losses on the same batch; it is called after the step,
        without gradients, and FAMO updates its task weights from the change. Without it FAMO
        updates them at the next step, from that step's ``losses`` (no extra forward pass; the
        same with a fixed batch, noisier with mini-batches: :mod:`metalib.multitask.famo`).
        """
        if after is not None and self.method != "famo":
            raise ValueError(f"after=... is for FAMO only; {self.method} does not use it")
        if losses.dim() != 1 or losses.numel() != len(self.kinds):
            raise ValueError(f"expected one loss per task, a vector [{len(self.kinds)}], got shape "
                             f"{tuple(losses.shape)}")
        bad = (~torch.isfinite(losses.detach())).nonzero().flatten().tolist()
        if bad:
            raise FloatingPointError(f"the losses of tasks {bad} are NaN or infinite "
                                     f"({losses.detach().tolist()}); no parameter was changed. Lower the "
                                     f"learning rate or check those tasks' inputs and targets")
        if self.method == "famo" and self.weighting.waiting:  # the last step had no after=...
            self.weighting.update(losses.detach())
        self.optimizer.zero_grad(set_to_none=True)
        if self.gramian is not None:
            gram, dz, head_grads = self.gramian.gramian(losses)
            self.gramian.backward(GRAM_WEIGHTS[self.method](gram, **self.options), dz)
            for p, g in zip(self.head_params, head_grads):
                p.grad = g
        elif self.aggregator is not None:
            jac = self.ranks.mean(task_jacobian(losses, self.shared + self.task))
            n = sum(p.numel() for p in self.shared)
            write_gradients(self.shared, self.aggregator(jac[:, :n], **self.options))
            write_gradients(self.task, jac[:, n:].sum(0))
        elif self.method == "equal":
            equal_weighting(losses).backward()
        elif self.method == "log_sum":
            log_sum(losses).backward()
        elif self.method == "gradnorm":
            self.weighting(losses, self.last_shared).backward()
        else:
            self.weighting(losses).backward()
        if self.aggregator is None:
            self.ranks.average_gradients(p for group in self.optimizer.param_groups for p in group["params"])
        self.optimizer.step()
        self.steps += 1
        if self.method == "gradnorm":
            self.weighting.renormalise()
        if self.method == "dwa" and self.steps % self.dwa_window == 0:
            self.weighting.end_epoch()
        if after is not None:
            with torch.no_grad():
                self.weighting.update(after())
