r"""Entropy minimisation on the target: confident predictions, and why that alone is not adaptation.

Grandvalet & Bengio (2005) add the mean entropy of the predictions on unlabelled data,

.. math::  L_H = −\frac{1}{|T|} \sum_{x ∈ T} \sum_k p_k(x) \log p_k(x), \qquad p = \mathrm{softmax}(g(f(x))),

so that the decision boundary moves into low-density regions (the cluster assumption). Under a
domain shift it has a trivial way out: predicting one class with certainty for every target
example has zero entropy. Nothing in ``L_H`` says which class, so a model that starts wrong on the
target becomes confidently wrong. Information maximisation adds the entropy of the *mean*
prediction to rule out the collapse (:func:`metalib.domain.validators.information_maximization`).

Reference: Grandvalet & Bengio (2005), "Semi-supervised Learning by Entropy Minimization", NeurIPS.
"""
from __future__ import annotations

import torch
from torch import nn

from .adaptation import AdaptationBatch


def mean_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``-(1/n) Σ_x Σ_k p_k log p_k`` of ``softmax(logits [n, K])``, in nats."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1).mean()


class EntropyMinimization(nn.Module):
    """The mean entropy of the target predictions of a batch (no parameters of its own)."""

    def forward(self, batch: AdaptationBatch) -> torch.Tensor:
        return mean_entropy(batch.target_logits)
