"""A small causal transformer that learns in context from a label-concatenated sequence.

The sequence (:func:`~metalib.model_based.sequences.label_sequences`) is embedded by one linear
layer, passed through pre-norm blocks ``x ← x + Attn(LN(x))``, ``x ← x + MLP(LN(x))`` with
:class:`~metalib.model_based.attention.CausalSelfAttention`, and read out as class logits at every
position; only the query positions are scored. There is no positional encoding: the support is
shuffled and its order carries no information, and without one the model cannot learn to read a
label off a position (the causal mask alone still tells queries from what came before them).
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import CausalSelfAttention


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))[0]
        return x + self.mlp(self.norm2(x))


class InContextTransformer(nn.Module):
    """``forward(inputs [B, L, D + N]) -> logits [B, L, N]``."""

    def __init__(self, input_dim: int, n_way: int, d_model: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(input_dim, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, n_way)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.embed(inputs)
        for block in self.blocks:
            x = block(x)
        return self.readout(self.norm(x))
