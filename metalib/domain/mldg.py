r"""MLDG: meta-learning for domain generalisation (Li, Yang, Song & Hospedales, 2018).

With several labelled source domains and a target domain never seen in training, MLDG splits the
source domains at every step into meta-train domains ``S̄`` and a meta-test domain ``S̆``, takes a
virtual gradient step on the meta-train loss and asks the stepped model to do well on the
meta-test domain too:

.. math::  θ' = θ − α ∇_θ F(θ), \qquad
           \min_θ \; F(θ) + β \, G(θ'), \qquad F = L(θ; S̄), \; G = L(θ'; S̆).

Its gradient, ``∇F(θ) + β (I − α ∇²F(θ)) ∇G(θ')``, contains the second-order term that rewards
directions along which the two domains' gradients agree (a first-order Taylor expansion, as in the
paper's analysis, gives ``G(θ') ≈ G(θ) − α ∇F·∇G``). ``first_order=True`` drops the Hessian term.

This is MAML with one task whose support set is the meta-train domains and whose query set is the
meta-test domain, plus the support loss itself; so it is written with the inner loop of
:mod:`metalib.optimization.inner` (one task, one step), which keeps the second-order graph.

Reference: Li, Yang, Song & Hospedales (2018), "Learning to Generalize: Meta-Learning for Domain
Generalization", AAAI (Algorithm 1).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..optimization.inner import batched_call, check_learning_rate, gradient_steps


class MLDG(nn.Module):
    """The MLDG objective ``F(θ) + β G(θ − α ∇F(θ))`` of a classifier over a list of domains.

    Args:
        model: the classifier (any ``nn.Module`` mapping ``[M, ...]`` to logits).
        inner_lr: ``α``, the virtual step.
        beta: ``β``, the weight of the meta-test loss (1 in the paper).
        first_order: drop the second-order term.
    """

    def __init__(self, model: nn.Module, inner_lr: float = 0.1, beta: float = 1.0, first_order: bool = False) -> None:
        super().__init__()
        self.model = model
        self.inner_lr = check_learning_rate(inner_lr)
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0 (the weight of the meta-test loss), got {beta!r}")
        self.beta, self.first_order = float(beta), bool(first_order)

    def _loss(self, params: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = batched_call(self.model, params, x)                        # [1, M, K]
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)

    def forward(self, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], meta_test: int) -> torch.Tensor:
        """The objective for the domains ``xs[i], ys[i]``, holding out domain ``meta_test``."""
        if len(xs) != len(ys) or len(xs) < 2:
            raise ValueError(f"MLDG needs at least two source domains with labels, got {len(xs)} inputs and "
                             f"{len(ys)} label tensors")
        if not 0 <= meta_test < len(xs):
            raise ValueError(f"meta_test must index one of the {len(xs)} domains, got {meta_test}")
        train_x = torch.cat([x for i, x in enumerate(xs) if i != meta_test])[None]
        train_y = torch.cat([y for i, y in enumerate(ys) if i != meta_test])[None]
        theta = {n: p[None] for n, p in self.model.named_parameters()}
        meta_train = self._loss(theta, train_x, train_y)
        stepped = gradient_steps(self._loss, theta, train_x, train_y, steps=1, lr=self.inner_lr,
                                 first_order=self.first_order)
        meta_test_loss = self._loss(stepped, xs[meta_test][None], ys[meta_test][None])
        return (meta_train + self.beta * meta_test_loss).squeeze(0)
