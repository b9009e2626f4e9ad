"""LEO: the inner loop runs in a learned low-dimensional latent space, not in the weights (Rusu et al., 2019).

On top of a fixed, pretrained embedding ``x ∈ ℝ^d`` of every image (here chapter 3's kind of
Conv4, trained as a Prototypical Network), LEO generates the weights of a linear classifier, one
weight vector ``w_n ∈ ℝ^d`` per class, from a latent code ``z_n ∈ ℝ^l`` with ``l ≪ d``:

1. **encode** the support set: a relation network compares each example with every example of the
   task, ``g(x_i, x_j)``, and the results for the examples of class ``n`` are averaged into the
   mean and standard deviation of ``q(z_n | S) = N(μ_n, σ_n²)``; a code is sampled
   (reparameterised) during meta-training, the mean is used at test time;
2. **decode** each code into a distribution over weights, ``w_n ~ N(μ_w(z_n), σ_w(z_n)²)``;
3. **adapt in latent space**: ``z ← z − α ∇_z L_S(w(z))`` for a few steps, with the logits
   ``x · w_nᵀ`` of the support examples; the meta-gradient flows through these steps;
4. the outer loss is the query loss at the adapted codes, plus ``β KL(q(z|S) || N(0, I))``, plus
   ``γ ||stopgrad(z') − z||²`` (the encoder should already land near where adaptation ends), plus
   ``λ`` times an orthogonality penalty on the decoder (the correlation matrix of its ``l`` latent
   directions kept close to the identity).

The paper then fine-tunes ``w`` directly for a few steps; that step is left out here. All ``B`` tasks adapt at once: codes ``[B, N, l]``.

Reference:
    Rusu, Rao, Sygnowski, Vinyals, Pascanu, Osindero & Hadsell (2019), "Meta-Learning with Latent
    Embedding Optimization", ICLR.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metalib.metric.base import support_one_hot


def _gaussian(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, raw = stats.chunk(2, -1)
    return mean, F.softplus(raw) + 1e-4


@dataclass
class LEOOutput:
    """``logits [B, M, N]`` of the queries and the regularisers of the outer loss (each a number)."""

    logits: torch.Tensor
    kl: torch.Tensor
    encoder_penalty: torch.Tensor
    orthogonality: torch.Tensor


class LEO(nn.Module):
    """``forward(z_support [B, N*K, d], support_y, z_query [B, M, d], n_way) -> LEOOutput``.

    Args:
        feature_dim: ``d``, the size of the fixed embedding.
        latent_dim: ``l``.
        inner_steps, inner_lr: the latent inner loop (``α`` is learned, starting at ``inner_lr``).
        kl_weight, encoder_weight, orthogonality_weight: ``β``, ``γ`` and ``λ`` of the outer loss.
        dropout: on the features, as in the paper.
    """

    def __init__(self, feature_dim: int, latent_dim: int = 16, inner_steps: int = 5, inner_lr: float = 1.0,
                 kl_weight: float = 1e-3, encoder_weight: float = 1e-6, orthogonality_weight: float = 1e-3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps must be an integer >= 0, got {inner_steps!r}")
        self.encoder = nn.Linear(feature_dim, latent_dim)
        self.relation = nn.Sequential(nn.Linear(2 * latent_dim, 2 * latent_dim), nn.ReLU(),
                                      nn.Linear(2 * latent_dim, 2 * latent_dim), nn.ReLU(),
                                      nn.Linear(2 * latent_dim, 2 * latent_dim))
        self.decoder = nn.Linear(latent_dim, 2 * feature_dim, bias=False)
        self.log_inner_lr = nn.Parameter(torch.tensor(float(inner_lr)).log())
        self.inner_steps = inner_steps
        self.kl_weight, self.encoder_weight = kl_weight, encoder_weight
        self.orthogonality_weight = orthogonality_weight
        self.dropout = nn.Dropout(dropout)

    def encode(self, z_support: torch.Tensor, support_y: torch.Tensor, n_way: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of ``q(z_n | S)``, each ``[B, N, l]``."""
        e = self.encoder(self.dropout(z_support))                    # [B, S, l]
        s = e.shape[1]
        pairs = torch.cat([e[:, :, None].expand(-1, -1, s, -1), e[:, None].expand(-1, s, -1, -1)], -1)
        per_example = self.relation(pairs).mean(2)                   # [B, S, 2l]: each against all
        onehot = support_one_hot(support_y, n_way).to(e.dtype)       # [B, S, N]
        per_class = onehot.transpose(1, 2) @ per_example / onehot.sum(1)[..., None]
        return _gaussian(per_class)

    def decode(self, codes: torch.Tensor, sample: bool) -> torch.Tensor:
        """Classifier weights ``[B, N, d]`` from codes ``[B, N, l]``."""
        mean, std = _gaussian(self.decoder(codes))
        return mean + std * torch.randn_like(std) if sample else mean

    def orthogonality_penalty(self) -> torch.Tensor:
        w = self.decoder.weight                                       # [2d, l]
        corr = torch.corrcoef(w.T)                                    # [l, l]
        return (corr - torch.eye(corr.shape[0], dtype=w.dtype, device=w.device)).pow(2).mean()

    def adapt(self, codes: torch.Tensor, z_support: torch.Tensor, support_y: torch.Tensor,
              sample: bool) -> torch.Tensor:
        """``inner_steps`` gradient steps on the support loss, in latent space, for every task at once."""
        create_graph = self.training and torch.is_grad_enabled()
        for _ in range(self.inner_steps):
            with torch.enable_grad():
                if not codes.requires_grad:
                    codes = codes.detach().requires_grad_(True)
                logits = z_support @ self.decode(codes, sample).transpose(1, 2)
                loss = F.cross_entropy(logits.flatten(0, 1), support_y.flatten(), reduction="sum") / support_y.shape[1]
                (grad,) = torch.autograd.grad(loss, codes, create_graph=create_graph)
            codes = codes - self.log_inner_lr.exp() * grad
        return codes

    def forward(self, z_support: torch.Tensor, support_y: torch.Tensor, z_query: torch.Tensor,
                n_way: int) -> LEOOutput:
        if z_support.dim() != 3 or z_query.dim() != 3:
            raise ValueError(f"LEO reads embedded tasks z_support [B, N*K, d] and z_query [B, M, d], got "
                             f"{tuple(z_support.shape)} and {tuple(z_query.shape)}; embed the images first")
        mean, std = self.encode(z_support, support_y, n_way)
        sample = self.training
        codes = mean + std * torch.randn_like(std) if sample else mean
        adapted = self.adapt(codes, z_support, support_y, sample)
        logits = z_query @ self.decode(adapted, sample).transpose(1, 2)
        kl = torch.distributions.kl_divergence(torch.distributions.Normal(mean, std),
                                               torch.distributions.Normal(0.0, 1.0)).sum(-1).mean()
        return LEOOutput(logits, kl, (adapted.detach() - codes).pow(2).sum(-1).mean(), self.orthogonality_penalty())

    def loss(self, z_support, support_y, z_query, query_y, n_way: int) -> torch.Tensor:
        """The outer loss: query cross-entropy plus the three regularisers."""
        out = self(z_support, support_y, z_query, n_way)
        ce = F.cross_entropy(out.logits.flatten(0, 1), query_y.flatten())
        return (ce + self.kl_weight * out.kl + self.encoder_weight * out.encoder_penalty
                + self.orthogonality_weight * out.orthogonality)
