"""Hard parameter sharing: one trunk for every task, one small head per task (Caruana, 1997).

.. math::  \\hat y_i = h_i(f_{θ_s}(x)),  \\qquad  i = 1, …, T.

The trunk's parameters ``θ_s`` are *shared*: every task's loss pulls on them, which is both the
benefit (``T`` times the data for the features) and the risk (tasks that want different features
fight over a trunk too narrow for both: negative transfer). The heads' parameters are each task's
own. Gradient-combination methods act on the shared parameters only
(:meth:`HardSharing.shared_parameters`); each head gets its own task's gradient.

References:
    Caruana (1997), "Multitask Learning", Machine Learning 28.
    Ruder (2017), "An Overview of Multi-Task Learning in Deep Neural Networks", arXiv:1706.05098.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class HardSharing(nn.Module):
    """``forward(x) -> [head_1(trunk(x)), ..., head_T(trunk(x))]``: the trunk runs once for all heads."""

    def __init__(self, trunk: nn.Module, heads: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(heads) == 0:
            raise ValueError("HardSharing needs at least one head (one per task)")
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.trunk(x)
        return [head(z) for head in self.heads]

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())
