"""Meta-SGD (Li, Zhou, Chen & Li, 2017): MAML that also learns the inner step size of every parameter.

The inner step is ``θ'_b = θ − α ⊙ ∇_θ L^{support}_b(θ)``, where ``α`` has the shape of ``θ`` and is
meta-learned together with it. Each coordinate gets its own step size and, since ``α`` may turn
negative, its own direction. Everything else is :class:`~metalib.optimization.MAML`.

References:
    Li, Zhou, Chen & Li (2017), "Meta-SGD: Learning to Learn Quickly for Few-Shot Learning", arXiv:1707.09835.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .maml import MAML, Loss


class MetaSGD(MAML):
    """MAML with a learned step size per parameter coordinate.

    Args:
        model: the network; see :class:`MAML`.
        inner_lr: the initial value of every step size (> 0).
        inner_steps, first_order, loss, check_finite, task_chunk: as for :class:`MAML` (the paper uses
            one step).

    Attributes:
        lrs: ``nn.ParameterList`` of the step sizes ``α``, one tensor per adapted parameter, in the
            order of :meth:`adapted_names`; :meth:`step_sizes` gives them by name.
    """

    def __init__(self, model: nn.Module, inner_lr: float = 0.4, inner_steps: int = 1, first_order: bool = False,
                 loss: Loss = F.cross_entropy, check_finite: bool = True, task_chunk: int | None = None) -> None:
        super().__init__(model, inner_lr, inner_steps, first_order, loss, check_finite, task_chunk)
        params = dict(self.model.named_parameters())
        self.lrs = nn.ParameterList([nn.Parameter(torch.full_like(params[n], self.inner_lr).detach())
                                     for n in self.adapted_names()])

    def step_sizes(self) -> Mapping[str, torch.Tensor]:
        return dict(zip(self.adapted_names(), self.lrs))
