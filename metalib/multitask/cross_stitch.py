"""Soft parameter sharing with cross-stitch units (Misra, Shrivastava, Gupta & Hebert, 2016).

Every task has its own column of layers; after layer ``l`` a learned ``T × T`` matrix ``α^{(l)}``
mixes the columns' activations,

.. math::  \\tilde h_i^{(l)} = \\sum_j α^{(l)}_{ij}\\, h_j^{(l)},

and the mixed activations feed the next layer. ``α = I`` is ``T`` separate networks, ``α = (1/T) 11ᵀ``
is close to one shared network; the paper starts from ``α_ii = 0.9`` (and the rest sharing the
remaining 0.1) and learns ``α`` with a larger learning rate than the layers'. The ``T`` columns run
as one batched call (their parameters stacked, ``vmap`` over the columns).

References:
    Misra, Shrivastava, Gupta & Hebert (2016), "Cross-stitch Networks for Multi-task Learning", CVPR.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap


class CrossStitch(nn.Module):
    """``T`` copies of ``layers`` with a cross-stitch unit after each, and one head per task.

    Args:
        layers: the blocks of one column, e.g. ``[nn.Sequential(nn.Linear(64, 32), nn.ReLU()), ...]``;
            each column starts from an independent initialisation (``make_layers`` is called ``T`` times).
        heads: one head per task, on the last block's output.
        self_weight: the initial ``α_ii`` (the paper's 0.9); off-diagonal entries share ``1 − α_ii``.
    """

    def __init__(self, make_layers: Callable[[], Sequence[nn.Module]], heads: Sequence[nn.Module],
                 self_weight: float = 0.9) -> None:
        super().__init__()
        t = len(heads)
        if t < 2:
            raise ValueError("cross-stitch units mix at least two task columns; got "
                             f"{t} head(s)")
        if not 0 <= self_weight <= 1:
            raise ValueError(f"self_weight must lie in [0, 1], got {self_weight!r}")
        columns = [list(make_layers()) for _ in range(t)]
        self.depth = len(columns[0])
        self.columns = nn.ModuleList(nn.ModuleList(c) for c in columns)
        off = (1 - self_weight) / (t - 1)
        start = torch.full((t, t), off) + torch.eye(t) * (self_weight - off)
        self.stitches = nn.Parameter(start.repeat(self.depth, 1, 1))
        self.heads = nn.ModuleList(heads)
        self._blank = [copy.deepcopy(layer).to("meta") for layer in columns[0]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        t = len(self.heads)
        h = x.unsqueeze(0).expand(t, *x.shape)
        for l in range(self.depth):
            h = run_columns(self._blank[l], [self.columns[i][l] for i in range(t)], h)
            h = torch.einsum("ij,j...->i...", self.stitches[l], h)
        return [head(h[i]) for i, head in enumerate(self.heads)]

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches: the columns and the stitches."""
        return list(self.columns.parameters()) + [self.stitches]

    def task_parameters(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())


def stacked_parameters(modules: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    """The modules' parameters, stacked along a new first dimension (differentiable, unlike
    ``torch.func.stack_module_state``, whose stacks are new leaves)."""
    names = [n for n, _ in modules[0].named_parameters()]
    return {n: torch.stack([dict(m.named_parameters())[n] for m in modules]) for n in names}


def run_columns(blank: nn.Module, modules: Sequence[nn.Module], h: torch.Tensor) -> torch.Tensor:
    """``[modules[i](h[i]) for i]`` as one ``vmap`` call; ``blank`` is a parameterless copy (device "meta")."""
    params = stacked_parameters(modules)
    return vmap(lambda p, inp: functional_call(blank, p, (inp,)))(params, h)
