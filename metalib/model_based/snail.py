"""SNAIL: dilated causal convolutions and causal attention over the episode (Mishra et al., 2018).

A simple neural attentive learner alternates two kinds of block, each of which *concatenates* its
output to its input (so features accumulate along the channels):

- a **TC block**: dense blocks with dilations ``1, 2, 4, …, 2^{⌈log₂ L⌉ − 1}``, each a causal 1-D
  convolution of kernel 2 (padded on the left only, so step ``t`` sees ``t`` and ``t − d``) with
  the gated activation ``tanh(a) ⊙ σ(b)``; together they reach back over the whole sequence;
- an **attention block**: causal single-head attention with key width ``k`` and value width ``v``
  (:class:`~metalib.model_based.attention.CausalSelfAttention` on a projection).

For Omniglot the paper uses attention(64, 32), TC(L, 128), attention(256, 128), TC(L, 128),
attention(512, 256), then a 1x1 readout; :class:`SNAIL` takes the widths as arguments so that the
chapter can run a narrower one on 2 cores.

References:
    Mishra, Rohaninejad, Chen & Abbeel (2018), "A Simple Neural Attentive Meta-Learner", ICLR.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import causal_attention_weights


class DenseBlock(nn.Module):
    """``x [B, L, C] -> [B, L, C + filters]``: a gated causal convolution of kernel 2, dilation ``d``."""

    def __init__(self, channels: int, dilation: int, filters: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv_f = nn.Conv1d(channels, filters, 2, dilation=dilation)
        self.conv_g = nn.Conv1d(channels, filters, 2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.pad(x.transpose(1, 2), (self.dilation, 0))  # left padding only: causal
        out = torch.tanh(self.conv_f(h)) * torch.sigmoid(self.conv_g(h))
        return torch.cat([x, out.transpose(1, 2)], -1)


class TCBlock(nn.Module):
    """Dense blocks with dilations 1, 2, 4, ... up to the sequence length."""

    def __init__(self, channels: int, length: int, filters: int) -> None:
        super().__init__()
        count = max(1, math.ceil(math.log2(length)))
        self.blocks = nn.ModuleList(DenseBlock(channels + i * filters, 2 ** i, filters) for i in range(count))
        self.out_channels = channels + count * filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class AttentionBlock(nn.Module):
    """``x [B, L, C] -> [B, L, C + value]``: causal attention with key width ``key``."""

    def __init__(self, channels: int, key: int, value: int) -> None:
        super().__init__()
        self.query, self.key = nn.Linear(channels, key), nn.Linear(channels, key)
        self.value = nn.Linear(channels, value)
        self.scale = math.sqrt(key)
        self.out_channels = channels + value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = causal_attention_weights(self.query(x) @ self.key(x).transpose(1, 2) / self.scale)
        return torch.cat([x, weights @ self.value(x)], -1)


class SNAIL(nn.Module):
    """``forward(inputs [B, L, D + N]) -> logits [B, L, N]`` for sequences of length ``length``."""

    def __init__(self, input_dim: int, n_way: int, length: int, key: int = 32, value: int = 32,
                 filters: int = 32) -> None:
        super().__init__()
        self.attention1 = AttentionBlock(input_dim, key, value)
        self.tc1 = TCBlock(self.attention1.out_channels, length, filters)
        self.attention2 = AttentionBlock(self.tc1.out_channels, key, value)
        self.tc2 = TCBlock(self.attention2.out_channels, length, filters)
        self.attention3 = AttentionBlock(self.tc2.out_channels, key, value)
        self.readout = nn.Linear(self.attention3.out_channels, n_way)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.attention1(inputs)
        x = self.attention2(self.tc1(x))
        x = self.attention3(self.tc2(x))
        return self.readout(x)
