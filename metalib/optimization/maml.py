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
from .inner import (NonFiniteInnerLossError, Params, batched_call, check_learning_rate, check_steps, check_task_batch,
                    gradient_steps)

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: On the CPU, :meth:`MAML.loss` vectorises over as many tasks as have about this many numbers in
#: their support inputs together (160 Omniglot images of 28x28), then starts a new piece: one
#: vectorised piece per meta-batch makes tensors too large for the cache, a loop over single tasks
#: pays PyTorch's per-call overhead. Measured on 2 cores (tasks/s, second order, meta-batch 32 / 16):
#: 5-way 5-shot 11.5 in one piece, 18.8 / 20.0 / 19.6 / 15.5 in pieces of 8 / 4 / 2 / 1; 20-way 1-shot
#: 28.2 in one piece, 30.0 / 27.1 in pieces of 8 / 4; 5-way 1-shot 91.8 in one piece, 84.6 in pieces of 8.
#: To measure on another machine:
#: ``python benchmarks/maml_speed.py --device cpu --settings 5w5s --task-chunk 4 --no-save``.
CPU_CHUNK_ELEMENTS = 160 * 28 * 28


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
        task_chunk: how many tasks :meth:`loss` processes in one vectorised piece. ``None``
            (default): all of them on a GPU; on the CPU, chunks whose support inputs hold about
            :data:`CPU_CHUNK_ELEMENTS` numbers, so that each chunk's activations stay in the
            processor's cache (5-way 5-shot Omniglot, meta-batch 32, 2 cores: 11.5 tasks/s in one
            piece, 20 in pieces of 5 or 6; ``benchmarks/maml_speed.py``). An integer fixes the most tasks per piece
            on every device. The result is the same up to floating-point summation order.

    Attributes:
        model: the network whose parameters are ``θ``.
    """

    def __init__(self, model: nn.Module, inner_lr: float = 0.4, inner_steps: int = 1, first_order: bool = False,
                 loss: Loss = F.cross_entropy, check_finite: bool = True, task_chunk: int | None = None) -> None:
        super().__init__()
        if task_chunk is not None and (type(task_chunk) is not int or task_chunk < 1):
            raise ValueError(f"task_chunk must be None (automatic) or an integer >= 1 (the most tasks per "
                             f"vectorised piece), got {task_chunk!r}")
        self.model = with_batch_statistics(model)
        self.inner_lr = check_learning_rate(inner_lr)
        self.inner_steps = check_steps(inner_steps)
        self.first_order = bool(first_order)
        self.criterion = loss
        self.check_finite = check_finite
        self.task_chunk = task_chunk

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
        B = episode.support_x.shape[0]
        pieces = -(-B // self.chunk_size(episode.support_x))      # one, unless task_chunk or the CPU says so
        edges = [i * B // pieces for i in range(pieces + 1)]      # pieces of (nearly) equal size
        losses = []
        for start, end in zip(edges[:-1], edges[1:]):
            try:
                params = self.adapt(episode.support_x[start:end], episode.support_y[start:end], steps)
            except NonFiniteInnerLossError as error:
                raise error.shifted(start) from None
            losses.append(self.task_losses(params, episode.query_x[start:end], episode.query_y[start:end]))
        return torch.cat(losses).mean()

    def chunk_size(self, support_x: torch.Tensor) -> int:
        """The most tasks of the meta-batch ``support_x [B, S, ...]`` that :meth:`loss` vectorises
        in one piece (see ``task_chunk``)."""
        B = support_x.shape[0]
        if self.task_chunk is not None:
            return min(self.task_chunk, B)
        if support_x.device.type != "cpu":
            return B
        return min(B, max(1, CPU_CHUNK_ELEMENTS // support_x[0].numel()))
