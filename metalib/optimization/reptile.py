"""Reptile (Nichol, Achiam & Schulman, 2018): move the initialisation towards each task's solution.

For each task of a meta-batch, run ``k`` steps of gradient descent from ``θ`` to get ``θ_b``; then

.. math::  θ ← θ + ε \\, \\frac{1}{B} \\sum_{b=1}^{B} (θ_b − θ).

No gradient flows through the inner loop, yet for ``k > 1`` the update is not plain multi-task
training: to second order in the step size, its expectation contains a term that maximises the inner
product of gradients of different minibatches of one task, which rewards an initialisation that
generalises within a task (Nichol et al., Section 5). With ``k = 1`` it *is* joint training.

The paper's inner loop is Adam on minibatches; here it is plain gradient descent on each task's
support set (the same inner loop as :class:`~metalib.optimization.MAML`), so Reptile and first-order
MAML differ only in the direction they move ``θ``.

References:
    Nichol, Achiam & Schulman (2018), "On First-Order Meta-Learning Algorithms", arXiv:1803.02999.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .inner import Params, check_learning_rate, check_task_batch
from .maml import MAML, Loss


class Reptile(MAML):
    """Reptile: ``θ ← θ + ε · mean_b(θ_b − θ)`` after ``inner_steps`` steps on each task.

    Args:
        model: the network; see :class:`MAML`.
        inner_lr: the inner step size (> 0).
        inner_steps: inner steps during meta-training (>= 1; 1 reduces Reptile to joint training).
        loss, check_finite: as for :class:`MAML`.

    Example:
        >>> reptile = Reptile(net, inner_lr=0.02, inner_steps=5)          # doctest: +SKIP
        >>> reptile.meta_step(episode.support_x, episode.support_y, outer_lr=0.1)   # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, inner_lr: float = 0.02, inner_steps: int = 5,
                 loss: Loss = F.cross_entropy, check_finite: bool = True) -> None:
        super().__init__(model, inner_lr, inner_steps, first_order=True, loss=loss, check_finite=check_finite)

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None,
              first_order: bool | None = None) -> Params:
        """Each task's parameters after the inner loop, detached (Reptile never differentiates them)."""
        params = super().adapt(support_x, support_y, steps, first_order=True)
        return {n: w.detach() for n, w in params.items()}

    def direction(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None) -> Params:
        """``mean_b(θ_b − θ)``, the direction Reptile moves ``θ``, ``{name: tensor}``."""
        check_task_batch(support_x, support_y)
        adapted = self.adapt(support_x, support_y, steps)
        return {n: (adapted[n] - p.detach()).mean(0) for n, p in self.model.named_parameters() if n in adapted}

    @torch.no_grad()
    def meta_step(self, support_x: torch.Tensor, support_y: torch.Tensor, outer_lr: float,
                  steps: int | None = None) -> Params:
        """One Reptile update of ``θ`` in place, with step ``ε = outer_lr``; returns the direction used."""
        outer_lr = check_learning_rate(outer_lr, "outer_lr")
        with torch.enable_grad():
            direction = self.direction(support_x, support_y, steps)
        for n, p in self.model.named_parameters():
            if n in direction:
                p.add_(direction[n], alpha=outer_lr)
        return direction
