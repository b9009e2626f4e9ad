"""MAML and first-order MAML (Finn, Abbeel & Levine, 2017), for a whole meta-batch of tasks at once.

MAML learns an initialisation ``θ`` from which a few gradient steps on a new task's support set give
a good model for that task. With one inner step of size ``α``,

.. math::  θ'_b = θ − α ∇_θ L^{support}_b(θ), \\qquad
           \\min_θ \\; \\frac{1}{B} \\sum_{b=1}^{B} L^{query}_b(θ'_b),

and the meta-gradient is ``(I − α ∇²_θ L^{support}_b(θ)) ∇ L^{query}_b(θ'_b)`` per task: it
differentiates through the inner step, Hessian included. **First-order MAML** drops the Hessian term
and uses ``∇ L^{query}_b(θ'_b)`` alone (Finn et al., Section 5.2), which needs no second derivatives
and, here, memory that does not grow with the number of inner steps.

Batch norm uses the statistics of the batch it sees, in the inner loop and the outer loop, as in the
paper's code; the network's batch norms are replaced by :class:`~metalib.optimization.BatchStatNorm`
(see that module for why).

Example:
    >>> from metalib.backbones import Conv4Classifier
    >>> maml = MAML(Conv4Classifier(n_way=5), inner_lr=0.4, inner_steps=1)
    >>> opt = torch.optim.Adam(maml.parameters(), lr=1e-3)
    >>> episode = sampler.sample(32)                         # doctest: +SKIP
    >>> loss = maml.loss(episode); loss.backward(); opt.step()   # doctest: +SKIP

References:
    Finn, Abbeel & Levine (2017), "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
    Networks", ICML.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import vmap

from .batchnorm import with_batch_statistics
from .inner import Params, batched_call, check_learning_rate, check_steps, check_task_batch, gradient_steps

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class MAML(nn.Module):
    """Model-agnostic meta-learning: an initialisation learned through the inner loop.

    Args:
        model: the network ``f_θ``; it is copied, with batch norms switched to batch statistics.
            Its parameters are the initialisation ``θ`` that is meta-learned.
        inner_lr: the inner step size ``α`` (> 0); Finn et al. use 0.4 on Omniglot, 0.01 on sinusoids.
        inner_steps: inner gradient steps during meta-training (>= 1).
        first_order: first-order MAML (drop the second derivatives).
        loss: ``loss(prediction [S, ...], target [S, ...]) -> scalar`` for one task
            (``F.cross_entropy`` for classification, ``F.mse_loss`` for regression).
        check_finite: raise when an inner-loop loss becomes NaN or infinite (one host
            synchronisation per call of :meth:`adapt`).

    Attributes:
        model: the network whose parameters are ``θ``.
    """

    def __init__(self, model: nn.Module, inner_lr: float = 0.4, inner_steps: int = 1, first_order: bool = False,
                 loss: Loss = F.cross_entropy, check_finite: bool = True) -> None:
        super().__init__()
        self.model = with_batch_statistics(model)
        self.inner_lr = check_learning_rate(inner_lr)
        self.inner_steps = check_steps(inner_steps)
        self.first_order = bool(first_order)
        self.criterion = loss
        self.check_finite = check_finite

    # -- what the subclasses change -------------------------------------------------------------
    def adapted_names(self) -> list[str]:
        """Names of the parameters the inner loop changes (all of them for MAML)."""
        return [n for n, p in self.model.named_parameters() if p.requires_grad]

    def step_sizes(self) -> float | Mapping[str, torch.Tensor]:
        """The inner step size: one number for MAML, a tensor per parameter for Meta-SGD."""
        return self.inner_lr

    # -- the learner ------------------------------------------------------------------------------
    def task_losses(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each task's loss ``[B]`` with its own parameters (``params`` batched ``[B, ...]``)."""
        return vmap(self.criterion)(self.predict(params, x), y)

    def predict(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Each task's outputs ``[B, M, ...]`` at ``x [B, M, ...]`` with its adapted ``params``."""
        shared = {n: p for n, p in self.model.named_parameters() if n not in params}
        return batched_call(self.model, {**shared, **params}, x, batched=set(params))

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None,
              first_order: bool | None = None) -> Params:
        """The inner loop: each task's parameters after ``steps`` steps on its support set.

        Args:
            support_x, support_y: ``[B, S, ...]`` inputs and targets of ``B`` tasks.
            steps: inner steps (default ``inner_steps``; 0 gives ``θ`` itself, for "before adaptation").
            first_order: override the first-order setting for this call.

        Returns:
            ``{name: [B, ...]}`` for the adapted parameters, differentiable with respect to ``θ``
            (exactly for second order, through the final step only for first order).
        """
        check_task_batch(support_x, support_y)
        steps = self.inner_steps if steps is None else check_steps(steps, "steps", minimum=0)
        first_order = self.first_order if first_order is None else first_order
        params = dict(self.model.named_parameters())
        B = support_x.shape[0]
        fast = {n: params[n].expand(B, *params[n].shape) for n in self.adapted_names()}
        return gradient_steps(self.task_losses, fast, support_x, support_y, steps, self.step_sizes(),
                              first_order, self.check_finite)

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                steps: int | None = None) -> torch.Tensor:
        """Adapt on each task's support set and return the query outputs ``[B, M, ...]``."""
        check_task_batch(support_x, support_y, query_x)
        return self.predict(self.adapt(support_x, support_y, steps), query_x)

    def loss(self, episode, steps: int | None = None) -> torch.Tensor:
        """The meta-objective: the query loss after adaptation, averaged over the tasks of ``episode``.

        ``episode`` has ``support_x, support_y, query_x, query_y`` with a leading task dimension
        (:class:`metalib.Episode`, :class:`metalib.data.sinusoid.RegressionEpisode`).
        """
        check_task_batch(episode.support_x, episode.support_y, episode.query_x)
        params = self.adapt(episode.support_x, episode.support_y, steps)
        return self.task_losses(params, episode.query_x, episode.query_y).mean()
