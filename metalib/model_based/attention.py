"""Causal self-attention: each position of a sequence reads the positions before it, never after.

For queries ``Q = X W_q``, keys ``K = X W_k`` and values ``V = X W_v`` (per head, of width
``d_h = d / heads``),

.. math::  A = \\mathrm{softmax}\\Big(\\frac{Q K^\\top}{\\sqrt{d_h}} + M\\Big), \\qquad
           M_{ts} = \\begin{cases} 0 & s \\le t \\\\ -\\infty & s > t, \\end{cases}
           \\qquad \\mathrm{out} = A V W_o,

so row ``t`` of ``A`` sums to one over the keys ``s ≤ t`` and is zero on the future: the output at
step ``t`` cannot depend on any later input. That is what lets an in-context learner be trained on
all query positions at once without reading their answers (Vaswani et al., 2017; SNAIL's attention
blocks, Mishra et al., 2018).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def causal_mask(length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Bool ``[L, L]``: ``True`` where position ``t`` may not look at ``s`` (``s > t``)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


def causal_attention_weights(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the keys of ``scores [..., L, L]`` with the future (``s > t``) masked out."""
    length = scores.shape[-1]
    return torch.softmax(scores.masked_fill(causal_mask(length, scores.device), float("-inf")), -1)


class CausalSelfAttention(nn.Module):
    """``forward(x [B, L, d]) -> (out [B, L, d], weights [B, heads, L, L])``."""

    def __init__(self, d_model: int, heads: int = 1) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        self.heads, self.d_head = heads, d_model // heads
        self.query, self.key, self.value = (nn.Linear(d_model, d_model) for _ in range(3))
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, length, d = x.shape
        split = lambda t: t.view(b, length, self.heads, self.d_head).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        weights = causal_attention_weights(q @ k.transpose(-1, -2) / math.sqrt(self.d_head))
        mixed = (weights @ v).transpose(1, 2).reshape(b, length, d)
        return self.out(mixed), weights
