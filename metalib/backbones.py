"""Backbones every chapter shares: the Conv4 of few-shot learning, and a plain MLP.

**Conv4** is the embedding network of Vinyals et al. (2016), Snell et al. (2017) and Finn et al.
(2017): four blocks of ``3x3 convolution (64 filters) -> batch norm -> ReLU -> 2x2 max-pool``. On
28x28 Omniglot images the four pools leave a ``64 x 1 x 1`` map, a 64-dimensional embedding; on
84x84 images ``64 x 5 x 5 = 1600``. Relation Networks (Sung et al., 2018) keep the feature maps and
pool only in the first two blocks: ``Conv4(pool_blocks=2, flatten=False)``.

Every module here takes a batch ``[M, C, H, W]``; methods that work on a batch of tasks
``[B, P, C, H, W]`` flatten the task dimension into the batch before the call (:func:`embed_tasks`),
so one backbone call serves every task at once.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int = 64, pool: bool = True) -> nn.Sequential:
    """``3x3 conv (padding 1) -> BatchNorm2d -> ReLU [-> 2x2 max-pool]``."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1),
                               nn.BatchNorm2d(out_channels), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Conv4(nn.Module):
    """Four conv blocks of ``hidden`` filters: the standard few-shot embedding network.

    Args:
        in_channels: image channels (1 for Omniglot and the glyphs, 3 for colour images).
        hidden: filters per block (64 in the papers).
        pool_blocks: how many of the four blocks end with a 2x2 max-pool, counted from the first
            (4 for Prototypical and Matching Networks, 2 for the Relation Network's encoder).
        flatten: return ``[M, D]`` vectors (``True``) or ``[M, hidden, h, w]`` feature maps.

    Example:
        >>> net = Conv4()
        >>> net(torch.zeros(10, 1, 28, 28)).shape
        torch.Size([10, 64])
        >>> Conv4(pool_blocks=2, flatten=False)(torch.zeros(10, 1, 28, 28)).shape
        torch.Size([10, 64, 7, 7])

    References:
        Vinyals et al. (2016), "Matching Networks for One Shot Learning", NeurIPS.
        Snell et al. (2017), "Prototypical Networks for Few-shot Learning", NeurIPS.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, pool_blocks: int = 4,
                 flatten: bool = True) -> None:
        super().__init__()
        if not 0 <= pool_blocks <= 4:
            raise ValueError(f"pool_blocks must be between 0 and 4, got {pool_blocks}")
        self.blocks = nn.Sequential(*(conv_block(in_channels if i == 0 else hidden, hidden, pool=i < pool_blocks)
                                      for i in range(4)))
        self.flatten = flatten
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv4 expects images [M, {self.in_channels}, H, W], got {tuple(x.shape)}; "
                             f"flatten a batch of tasks [B, P, C, H, W] with x.flatten(0, 1) first")
        z = self.blocks(x)
        return z.flatten(1) if self.flatten else z


class MLP(nn.Sequential):
    """``Linear -> ReLU -> ... -> Linear`` through the given widths, e.g. ``MLP([784, 256, 64])``.

    Args:
        sizes: input width, hidden widths, output width (at least two numbers).
        batch_norm: put a ``BatchNorm1d`` after each hidden linear layer.
        flatten_input: flatten ``[M, C, H, W]`` images to ``[M, C*H*W]`` first.
    """

    def __init__(self, sizes: Sequence[int], batch_norm: bool = False, flatten_input: bool = True) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output width, got {sizes}")
        layers: list[nn.Module] = [nn.Flatten()] if flatten_input else []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(b))
                layers.append(nn.ReLU())
        super().__init__(*layers)


class SpatialMean(nn.Module):
    """``[M, C, H, W] -> [M, C]``: the mean over positions (Finn et al.'s Omniglot network ends this way)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Conv4Classifier(nn.Module):
    """The classifier of MAML on Omniglot: four strided conv blocks, a spatial mean, a linear head.

    Each block is ``3x3 conv (stride 2, padding 1) -> BatchNorm2d -> ReLU`` (``strided=True``, Finn et
    al.'s Omniglot network: 28 -> 14 -> 7 -> 4 -> 2) or ``3x3 conv -> BatchNorm2d -> ReLU -> 2x2
    max-pool`` (``strided=False``, their MiniImagenet network). The feature maps are averaged over
    positions into ``hidden`` numbers and ``head`` maps them to ``n_way`` scores. The same network is
    learn2learn's ``OmniglotCNN``.

    Args:
        n_way: classes per task (outputs of the head).
        in_channels: image channels.
        hidden: filters per block (64 for Omniglot, 32 for MiniImagenet in the paper).
        strided: stride-2 convolutions instead of max-pooling.

    Attributes:
        features: ``[M, C, H, W] -> [M, hidden]``.
        head: ``nn.Linear(hidden, n_way)``, the part ANIL adapts.

    Example:
        >>> Conv4Classifier(n_way=5)(torch.zeros(10, 1, 28, 28)).shape
        torch.Size([10, 5])

    References:
        Finn, Abbeel & Levine (2017), "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
        Networks", ICML (Section 5.2 and their code).
    """

    def __init__(self, n_way: int, in_channels: int = 1, hidden: int = 64, strided: bool = True) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(4):
            c_in = in_channels if i == 0 else hidden
            if strided:
                blocks.append(nn.Sequential(nn.Conv2d(c_in, hidden, 3, stride=2, padding=1),
                                            nn.BatchNorm2d(hidden), nn.ReLU()))
            else:
                blocks.append(conv_block(c_in, hidden))
        self.features = nn.Sequential(*blocks, SpatialMean())
        self.head = nn.Linear(hidden, n_way)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv4Classifier expects images [M, {self.in_channels}, H, W], got {tuple(x.shape)}")
        return self.head(self.features(x))


def embed_tasks(backbone: nn.Module, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Embed several batches of tasks ``[B, P_i, C, H, W]`` in **one** backbone call.

    The inputs are flattened to ``[sum_i B*P_i, C, H, W]``, embedded together (so batch norm sees
    support and query images in one batch, as in Snell et al.'s code) and split back into
    ``[B, P_i, ...]``. Returns one tensor per input.
    """
    if not xs:
        raise ValueError("embed_tasks needs at least one batch of tasks")
    B = xs[0].shape[0]
    for x in xs:
        if x.dim() != 5 or x.shape[0] != B:
            raise ValueError(f"embed_tasks expects tasks [B, P, C, H, W] with the same B, got shapes "
                             f"{[tuple(t.shape) for t in xs]}")
    sizes = [x.shape[1] for x in xs]
    z = backbone(torch.cat([x.flatten(0, 1) for x in xs]))
    parts = []
    start = 0
    for P in sizes:
        parts.append(z[start:start + B * P].unflatten(0, (B, P)))
        start += B * P
    return tuple(parts)
