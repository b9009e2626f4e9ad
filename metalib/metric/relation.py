"""Relation Networks (Sung, Yang, Zhang, Xiang, Torr and Hospedales, 2018, "Learning to Compare:
Relation Network for Few-Shot Learning").

Instead of a fixed distance, a second network *learns* to compare. An encoder ``f_phi`` maps images
to feature maps; the feature maps of each class's support examples are summed into one class map;
each query map is concatenated (along channels) with each class map and a relation module ``g_psi``
scores the pair in ``(0, 1)``:

.. math:: r_{k,j} = g_\\psi\\big(\\mathcal C(\\textstyle\\sum_{i: y_i = k} f_\\phi(x_i),\\; f_\\phi(x_j))\\big).

Training regresses the scores onto the one-hot labels with the mean squared error,
``sum_{k,j} (r_{k,j} - 1[y_j = k])^2``, which the paper prefers to cross-entropy.

In the paper (Omniglot, 28x28) the encoder is four conv blocks of which the first two pool, and the
relation module is two pooled conv blocks and two linear layers (hidden width 8, sigmoid output).
All ``B x M x N`` pairs of a batch of tasks go through the relation module in one call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Conv4, conv_block, embed_tasks
from .base import FewShotClassifier, check_tasks, support_one_hot


class RelationModule(nn.Module):
    """``g_psi``: two pooled conv blocks, then ``Linear -> ReLU -> Linear -> sigmoid``.

    Args:
        in_channels: channels of a concatenated pair (twice the encoder's channels, 128 in the paper).
        feature_size: ``(h, w)`` of the encoder's feature maps (7x7 for 28x28 images and a Conv4 that
            pools twice).
        hidden: conv filters (64) and ``fc_hidden`` the linear layer's width (8), as in the paper.
    """

    def __init__(self, in_channels: int = 128, feature_size: tuple[int, int] = (7, 7), hidden: int = 64,
                 fc_hidden: int = 8) -> None:
        super().__init__()
        h, w = feature_size
        if h < 4 or w < 4:
            raise ValueError(f"feature maps of {h}x{w} are too small for two 2x2 pools; the relation module "
                             f"needs at least 4x4 (use an encoder that pools less)")
        self.convs = nn.Sequential(conv_block(in_channels, hidden), conv_block(hidden, hidden))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(hidden * (h // 4) * (w // 4), fc_hidden), nn.ReLU(),
                                  nn.Linear(fc_hidden, 1), nn.Sigmoid())

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Relation scores ``[P]`` in (0, 1) for concatenated pairs ``[P, in_channels, h, w]``."""
        return self.head(self.convs(pairs)).squeeze(-1)


class RelationNetwork(FewShotClassifier):
    """Encoder plus relation module; ``forward`` returns relation scores ``[B, N*Q, N]`` in (0, 1).

    Args:
        encoder: maps images ``[M, C, H, W]`` to feature maps ``[M, c, h, w]`` (default: the paper's
            ``Conv4(pool_blocks=2, flatten=False)``).
        relation: the relation module (default: :class:`RelationModule` for 28x28 images).

    Reference:
        Sung et al. (2018), "Learning to Compare: Relation Network for Few-Shot Learning", CVPR.
    """

    def __init__(self, encoder: nn.Module | None = None, relation: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else Conv4(pool_blocks=2, flatten=False)
        self.relation = relation if relation is not None else RelationModule()

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:
        check_tasks(support_x, support_y, query_x)
        f_support, f_query = embed_tasks(self.encoder, support_x, query_x)   # [B, NK, c, h, w], [B, M, c, h, w]
        if f_support.dim() != 5:
            raise ValueError(f"the encoder must return feature maps [M, c, h, w], got {tuple(f_support.shape[1:])} "
                             f"per task; use Conv4(pool_blocks=2, flatten=False)")
        B, M = f_query.shape[:2]
        onehot = support_one_hot(support_y, n_way).to(f_support.dtype)          # [B, NK, N]
        N = onehot.shape[-1]
        classes = (onehot.transpose(1, 2) @ f_support.flatten(2)).view(B, N, *f_support.shape[2:])  # sums
        pairs = torch.cat([classes.unsqueeze(1).expand(B, M, *classes.shape[1:]),
                           f_query.unsqueeze(2).expand(B, M, N, *f_query.shape[2:])], dim=3)  # [B, M, N, 2c, h, w]
        return self.relation(pairs.flatten(0, 2)).view(B, M, N)

    def loss(self, episode, n_way: int | None = None) -> torch.Tensor:
        """Mean squared error between the relation scores and the one-hot query labels."""
        scores = self(episode.support_x, episode.support_y, episode.query_x, n_way=n_way)
        return F.mse_loss(scores, F.one_hot(episode.query_y, scores.shape[-1]).to(scores.dtype))
