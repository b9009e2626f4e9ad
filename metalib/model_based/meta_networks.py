"""Meta Networks: fast weights generated from the loss gradients of the support examples (Munkhdalai & Yu, 2017).

A base learner classifies embedded images ``u(x) ∈ ℝ^d`` with slow weights ``W`` (learned across
tasks) plus *fast* weights ``W*`` made for the task at hand:

1. for every support example the loss gradient of the base learner is taken *per example*,
   ``∇_i = ∇_W ℓ(W u(x_i), y_i)``; for this linear base learner it is
   ``(softmax(W u_i) − e_{y_i}) u_iᵀ`` (:func:`linear_gradients`, one batched product), so it carries
   the example's label. :func:`per_example_gradients` computes the same for any loss with one
   ``vmap`` of ``grad`` over tasks and examples; the tests check that the two agree;
2. a meta-learner ``m`` turns each gradient into fast weights, ``W*_i = m(∇_i)``; it acts on every
   entry alike, with the preprocessing of Andrychowicz et al. (2016), ``(log|g| / p, sign(g))``
   clipped, so gradients of any scale reach it in a usable range;
3. the fast weights are written to a memory keyed by the examples' embeddings; a query reads them
   back by attention, ``W*(x) = Σ_i softmax_i(cos(u(x), u(x_i))) W*_i``;
4. the query's scores are ``(W + W*(x)) u(x)`` (the paper's layer augmentation, for one layer).

The paper also generates task-level fast weights for the embedding ``u`` from a pairwise
embedding loss; this version keeps the example-level fast weights of the base learner only, the
part that turns gradients into weights. Everything is trained end to end on the query loss.

Reference:
    Munkhdalai & Yu (2017), "Meta Networks", ICML. Andrychowicz et al. (2016), "Learning to learn
    by gradient descent by gradient descent", NeurIPS (the gradient preprocessing).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vmap

from metalib.metric.base import check_tasks


def preprocess_gradient(g: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """``g [...] -> [..., 2]``: ``(log|g|/p, sign g)`` where ``|g| ≥ e^{-p}``, else ``(-1, e^p g)``."""
    big = g.abs() >= math.exp(-p)
    first = torch.where(big, g.abs().clamp_min(1e-30).log() / p, torch.full_like(g, -1.0))
    second = torch.where(big, g.sign(), math.exp(p) * g)
    return torch.stack([first, second], -1)


def per_example_gradients(weight: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``∇_W CE(W z_i, y_i)`` for every example of every task: ``[B, P, N, d]`` from ``z [B, P, d]``, ``y [B, P]``."""
    def loss(w, zi, yi):
        return F.cross_entropy((w @ zi)[None], yi[None])

    return vmap(vmap(grad(loss), in_dims=(None, 0, 0)), in_dims=(None, 0, 0))(weight, z, y)


def linear_gradients(weight: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The closed form of :func:`per_example_gradients` for a linear base learner: ``(softmax(W z_i) − e_{y_i}) z_iᵀ``."""
    residual = (z @ weight.T).softmax(-1) - F.one_hot(y, weight.shape[0]).to(z.dtype)   # [B, P, N]
    return residual[..., None] * z[..., None, :]


class MetaNetwork(nn.Module):
    """``forward(support_x [B, S, ...], support_y [B, S], query_x [B, M, ...], n_way) -> scores [B, M, N]``.

    Args:
        embedding: ``u``, images ``[P, ...]`` to vectors ``[P, d]``.
        feature_dim: ``d``.
        n_way: ``N``, the classes of every task (the base learner's outputs).
        hidden: width of the meta-learner ``m`` (applied to every gradient entry).
    """

    def __init__(self, embedding: nn.Module, feature_dim: int, n_way: int, hidden: int = 20) -> None:
        super().__init__()
        self.embedding, self.n_way = embedding, n_way
        self.slow = nn.Parameter(torch.randn(n_way, feature_dim) / math.sqrt(feature_dim))
        self.meta_learner = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.key_scale = nn.Parameter(torch.tensor(10.0))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def fast_weights(self, z_support: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """``W*_i = m(∇_i)`` ``[B, S, N, d]``, one fast weight matrix per support example."""
        grads = linear_gradients(self.slow, z_support, support_y)
        return self.meta_learner(preprocess_gradient(grads)).squeeze(-1)

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:
        check_tasks(support_x, support_y, query_x)
        if n_way is not None and n_way != self.n_way:
            raise ValueError(f"this Meta Network was built for {self.n_way}-way tasks, got n_way={n_way}; "
                             f"build one with n_way={n_way}")
        s = support_x.shape[1]
        z = self.embed(torch.cat([support_x, query_x], 1))
        z_support, z_query = z[:, :s], z[:, s:]
        memory = self.fast_weights(z_support, support_y)                              # [B, S, N, d]
        attention = (self.key_scale * F.cosine_similarity(z_query[:, :, None], z_support[:, None], dim=-1)
                     ).softmax(-1)                                                    # [B, M, S]
        fast = torch.einsum("bms,bsnd->bmnd", attention, memory)                      # [B, M, N, d]
        return torch.einsum("bmnd,bmd->bmn", self.slow + fast, z_query)

    def loss(self, episode, n_way: int | None = None) -> torch.Tensor:
        scores = self(episode.support_x, episode.support_y, episode.query_x, n_way)
        return F.cross_entropy(scores.flatten(0, 1), episode.query_y.flatten())
