r"""DANN: a domain classifier behind a gradient-reversal layer (Ganin et al., 2016).

With features ``z = f(x)``, the domain classifier ``g_d`` outputs a logit for "this came from the
target". Its binary cross-entropy over a source batch ``S`` and a target batch ``T``,

.. math::  L_d = −\frac{1}{|S| + |T|} \Big( \sum_{x ∈ S} \log(1 − σ(g_d(z))) + \sum_{x ∈ T} \log σ(g_d(z)) \Big),

is computed on :math:`R_λ(z)` (:mod:`metalib.domain.reversal`). Adding ``w · L_d`` to the source
classification loss and descending makes ``g_d`` a better domain classifier and ``f`` a worse one
to classify by: at the saddle point the two domains' feature distributions cannot be told apart
(the ``H``-divergence bound of Ben-David et al., 2010, which the paper's Section 3 follows).

Reference: Ganin et al. (2016), "Domain-Adversarial Training of Neural Networks", JMLR 17(59)
(its shallow algorithm uses a single-layer domain regressor; here it is a small MLP).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import MLP
from .adaptation import AdaptationBatch
from .reversal import GradientReversal, ganin_schedule


class DANNLoss(nn.Module):
    """The domain-adversarial loss ``L_d``; its discriminator's parameters train with the model's.

    Args:
        features: width of the features it reads.
        hidden: width of the discriminator's hidden layers (``[features, hidden, hidden, 1]``).
        scale: the reversal's final ``λ``.
        schedule: raise ``λ`` from 0 to ``scale`` with :func:`~metalib.domain.reversal.ganin_schedule`
            (:func:`~metalib.domain.adaptation.train_adaptation` calls :meth:`set_progress` before
            every step); ``False`` keeps ``λ = scale`` throughout.
    """

    def __init__(self, features: int, hidden: int = 64, scale: float = 1.0, schedule: bool = True) -> None:
        super().__init__()
        self.reversal = GradientReversal(scale)
        self.discriminator = MLP([features, hidden, hidden, 1], flatten_input=False)
        self.final_scale, self.schedule = self.reversal.scale, bool(schedule)

    def set_progress(self, progress: float) -> None:
        """Set ``λ`` for training progress ``p = step / steps``."""
        if self.schedule:
            self.reversal.scale = self.final_scale * ganin_schedule(progress)

    def domain_logits(self, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits "target" ``[|S| + |T|]`` and domain labels (0 source, 1 target)."""
        z = self.reversal(torch.cat([source, target]))
        labels = torch.cat([source.new_zeros(len(source)), source.new_ones(len(target))])
        return self.discriminator(z).squeeze(-1), labels

    def forward(self, batch: AdaptationBatch) -> torch.Tensor:
        logits, labels = self.domain_logits(batch.source_features, batch.target_features)
        return F.binary_cross_entropy_with_logits(logits, labels)
