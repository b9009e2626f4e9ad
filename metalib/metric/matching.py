"""Matching Networks (Vinyals, Blundell, Lillicrap, Kavukcuoglu and Wierstra, 2016, "Matching Networks
for One Shot Learning").

A query ``x`` is labelled by attention over the support set ``S = {(x_i, y_i)}``,

.. math:: \\hat y = \\sum_i a(x, x_i)\\, y_i, \\qquad
          a(x, x_i) = \\frac{\\exp(c(f(x), g(x_i)))}{\\sum_j \\exp(c(f(x), g(x_j)))},

with ``c`` the cosine similarity and ``y_i`` one-hot: a soft nearest neighbour whose weights sum to
one. Training minimises ``-log \\hat y[true class]``. With plain embeddings ``f = g`` is the backbone.

**Full-context embeddings** (FCE, the paper's appendix) let each embedding see the whole support set:

- ``g(x_i, S) = \\vec h_i + \\overleftarrow h_i + g'(x_i)``: a bidirectional LSTM reads the support
  embeddings ``g'(x_1) .. g'(x_{NK})`` as a sequence (so it depends on their order);
- ``f(x, S)``: an LSTM that attends ``steps`` times over ``g(S)``, starting from ``h_0 = f'(x)``:
  ``r = \\sum_i softmax(h^T g(x_i)) g(x_i)``, ``\\hat h, c = LSTM(f'(x), [h, r], c)``,
  ``h = \\hat h + f'(x)``. As in common implementations, the state ``[h, r]`` is fed as the sum
  ``h + r``, which keeps the LSTM's width at ``D``.

Everything is batched over tasks: attention is a ``[B, M, N*K]`` batched matrix product.
"""
from __future__ import annotations

import torch
from torch import nn

from ..backbones import embed_tasks
from .base import FewShotClassifier, check_tasks, support_one_hot
from .distances import cosine_similarity


def matching_attention(z_query: torch.Tensor, z_support: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``a(x, x_i) = softmax_i(scale * cos(f(x), g(x_i)))``, shape ``[B, M, N*K]``; rows sum to one."""
    return (scale * cosine_similarity(z_query, z_support)).softmax(dim=-1)


def matching_log_probs(z_query: torch.Tensor, z_support: torch.Tensor, support_y: torch.Tensor,
                       n_way: int | None = None, scale: float = 1.0) -> torch.Tensor:
    """``log \\hat y`` ``[B, M, N]``: log of the attention mass each class receives."""
    a = matching_attention(z_query, z_support, scale)
    probs = a @ support_one_hot(support_y, n_way).to(a.dtype)
    return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()


class FullContextEmbedding(nn.Module):
    """The two context embeddings of Matching Networks' appendix, for embeddings of width ``dim``.

    Args:
        dim: the backbone's embedding width ``D``.
        steps: attention steps of the query LSTM (the paper's ``K``).
    """

    def __init__(self, dim: int, steps: int = 5) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.support_lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=True)
        self.query_cell = nn.LSTMCell(dim, dim)
        self.dim, self.steps = dim, steps

    def embed_support(self, g: torch.Tensor) -> torch.Tensor:
        """``g(x_i, S) = fwd_i + bwd_i + g'(x_i)`` for support embeddings ``[B, N*K, D]``."""
        out, _ = self.support_lstm(g)
        return g + out[..., :self.dim] + out[..., self.dim:]

    def embed_query(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``f(x, S)`` for query embeddings ``[B, M, D]`` attending over ``g(S)`` ``[B, N*K, D]``."""
        B, M, D = f.shape
        h, c = f, torch.zeros_like(f)
        for _ in range(self.steps):
            r = (h @ g.transpose(1, 2)).softmax(-1) @ g                      # readout [B, M, D]
            h_hat, c = self.query_cell(f.reshape(B * M, D), ((h + r).reshape(B * M, D), c.reshape(B * M, D)))
            h, c = h_hat.view(B, M, D) + f, c.view(B, M, D)
        return h

    def forward(self, z_support: torch.Tensor, z_query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.embed_support(z_support)
        return g, self.embed_query(z_query, g)


class MatchingNetwork(FewShotClassifier):
    """A Matching Network over any backbone mapping images ``[M, C, H, W]`` to vectors ``[M, D]``.

    Args:
        backbone: the embedding (``f' = g'``; a Conv4 in the paper).
        fce: add full-context embeddings (:class:`FullContextEmbedding`); needs ``embedding_dim``.
        embedding_dim: the backbone's output width ``D`` (only for ``fce=True``).
        fce_steps: attention steps of the query LSTM.
        scale: multiplies the cosine similarities before the softmax (1 in the paper).

    Returns from ``forward``: log-probabilities ``[B, N*Q, N]``.

    Reference:
        Vinyals et al. (2016), "Matching Networks for One Shot Learning", NeurIPS.
    """

    def __init__(self, backbone: nn.Module, fce: bool = False, embedding_dim: int | None = None,
                 fce_steps: int = 5, scale: float = 1.0) -> None:
        super().__init__()
        if fce and embedding_dim is None:
            raise ValueError("full-context embeddings need the backbone's output width: "
                             "MatchingNetwork(backbone, fce=True, embedding_dim=64)")
        self.backbone, self.scale = backbone, scale
        self.fce = FullContextEmbedding(embedding_dim, fce_steps) if fce else None

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:
        check_tasks(support_x, support_y, query_x)
        z_support, z_query = embed_tasks(self.backbone, support_x, query_x)
        if self.fce is not None:
            z_support, z_query = self.fce(z_support, z_query)
        return matching_log_probs(z_query, z_support, support_y, n_way, self.scale)

    def loss(self, episode, n_way: int | None = None) -> torch.Tensor:
        """``-mean log \\hat y[true class]`` (the scores are already log-probabilities)."""
        log_probs = self(episode.support_x, episode.support_y, episode.query_x, n_way=n_way)
        return -log_probs.gather(-1, episode.query_y.unsqueeze(-1)).mean()
