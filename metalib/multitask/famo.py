"""FAMO: fast adaptive multitask optimisation (Liu, Feng, Stone & Liu, 2023).

Gradient methods balance the tasks from their ``T`` gradients; FAMO balances them from the losses
alone, so a step costs one backward pass like equal weighting. With task weights
``z = softmax(ξ)`` it descends

.. math::  c \\sum_i z_i \\log(L_i − b_i + ε), \\qquad c = \\Big(\\sum_i \\frac{z_i}{L_i − b_i + ε}\\Big)^{-1}

(``c`` held fixed), whose gradient ``Σ_i (c z_i / L_i) ∇L_i`` is a convex combination of the task
gradients that favours the tasks whose loss is small relative to its weight: in log space every
task is asked to fall at the same rate. After the model's step, the losses on the same batch tell
how much each log loss fell, ``δ_i = log L_i(θ_t) − log L_i(θ_{t+1})``, and the logits take an Adam
step along ``−(∂z/∂ξ)ᵀ δ = −z ⊙ (δ − zᵀδ)`` with weight decay ``γ``: weight moves to the tasks that
fell least. The only extra cost is a forward pass without gradients for the new losses
(:class:`~metalib.multitask.training.MultiTaskStep` asks for it as ``after=``), as in Liu et al.'s
supervised experiments.

That forward pass can be skipped: the next step computes the losses at ``θ_{t+1}`` anyway, so
:meth:`FAMO.update` can run there, on the next step's losses, before they are weighted (Liu et
al.'s toy experiment orders its loop so). With a fixed batch this is the same algorithm, step for
step; with mini-batches ``δ_i`` also holds the difference between two batches' losses, noise that
the same-batch forward pass avoids (on the two-task problem of ``tests/test_multitask_famo.py`` the
weight moves to the task that cannot learn in both orders, more slowly in this one).
``MultiTaskStep.step(losses)`` without ``after=`` does this.

Checked against torchjd's ``torchjd.scalarization.FAMO`` (``tests/test_multitask_famo.py``).

References:
    Liu, Feng, Stone & Liu (2023), "FAMO: Fast Adaptive Multitask Optimization", NeurIPS.
"""
from __future__ import annotations

import torch
from torch import nn

from .scalarization import check_losses

EPSILON = 1e-8


class FAMO(nn.Module):
    """``famo(losses)`` the loss to backpropagate; ``famo.update(losses_after)`` after the model's step.

    Args:
        num_tasks: ``T``.
        lr: Adam's step for the logits ``ξ`` (the paper: 0.025).
        weight_decay: ``γ``, Adam's weight decay on ``ξ`` (the paper's Algorithm 2: 1e-3).
        min_losses: ``b``, a lower bound for each loss (default 0: the losses must be positive).
    """

    def __init__(self, num_tasks: int, lr: float = 0.025, weight_decay: float = 1e-3,
                 min_losses: torch.Tensor | None = None) -> None:
        super().__init__()
        if not (lr >= 0 and weight_decay >= 0):
            raise ValueError(f"lr and weight_decay must be >= 0, got {lr!r} and {weight_decay!r}")
        self.logits = nn.Parameter(torch.zeros(num_tasks))
        self.register_buffer("min_losses", torch.zeros(num_tasks) if min_losses is None
                             else torch.as_tensor(min_losses, dtype=torch.float32).clone())
        self.optimizer = torch.optim.Adam([self.logits], lr=lr, weight_decay=weight_decay)
        self._before: torch.Tensor | None = None

    def weights(self) -> torch.Tensor:
        """``z = softmax(ξ)``, the current task weights (they sum to one)."""
        return torch.softmax(self.logits.detach(), 0)

    def _shifted(self, losses: torch.Tensor) -> torch.Tensor:
        shifted = losses - self.min_losses.to(losses.dtype) + EPSILON
        if not bool((shifted.detach() > 0).all()):
            raise ValueError(f"FAMO takes the logarithm of each loss minus its lower bound; got losses "
                             f"{losses.detach().tolist()} with bounds {self.min_losses.tolist()}. Use "
                             f"positive losses or lower min_losses")
        return shifted

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        losses = check_losses(losses)
        shifted = self._shifted(losses)
        z = self.weights().to(losses.dtype)
        c = 1 / (z / shifted.detach()).sum()
        self._before = shifted.detach()
        return c * (z * shifted.log()).sum()

    @property
    def waiting(self) -> bool:
        """True between ``famo(losses)`` and :meth:`update`: the losses before a step are kept."""
        return self._before is not None

    def update(self, losses_after: torch.Tensor) -> None:
        """One Adam step of ``ξ`` from how much each log loss fell across the model's step.

        ``losses_after``: the losses at the new parameters, on the same batch (or on the next
        step's batch, to save a forward pass; see the module's notes).
        """
        if self._before is None:
            raise RuntimeError("call famo(losses) and take the model's step before famo.update(new losses)")
        delta = self._before.log() - self._shifted(losses_after.detach()).log()
        z = self.weights().to(delta.dtype)
        self.logits.grad = (z * (delta - (z * delta).sum())).to(self.logits.dtype)
        self.optimizer.step()
        self.logits.grad, self._before = None, None
