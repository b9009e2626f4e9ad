"""A task encoder that produces FiLM parameters for a Prototypical Network (TADAM, Oreshkin et al., 2018).

A plain Prototypical Network embeds every task's images with the same network. TADAM first reads
the task: the mean of its class prototypes under the unconditioned network,
``c̄ = (1/N) Σ_n c_n``, is the task representation, and a small *task encoder* maps it to a
feature-wise linear modulation (FiLM, Perez et al., 2018) of every conv block,

.. math::  h_l ← \\mathrm{ReLU}\\big((1 + γ_l)\\, \\mathrm{BN}(\\mathrm{conv}_l(h_{l-1})) + β_l\\big),
           \\qquad (γ_l, β_l) = \\big(a_l\\, g_l(c̄),\\; b_l\\, h_l(c̄)\\big),

then embeds the task a second time with its own ``γ, β`` and classifies the queries by scaled
negative squared distances to the new prototypes, ``-α ||f(x) − c_n||²`` (α learned: TADAM's
*metric scaling*). The paper scales ``γ, β`` by learned scalars ``a_l, b_l``; here they start at
zero, so training starts at the plain Prototypical Network and moves away from it only where
modulation helps. All ``B`` tasks run as one batch: ``γ, β [B, C]`` broadcast over each task's
images. The paper also co-trains the network on an ordinary classification of all training
classes (its auxiliary task); that part is left out here, so the comparison with the plain network
isolates the task conditioning.

References:
    Oreshkin, Rodríguez López & Lacoste (2018), "TADAM: Task dependent adaptive metric for improved
    few-shot learning", NeurIPS. Perez, Strub, de Vries, Dumoulin & Courville (2018), "FiLM: Visual
    Reasoning with a General Conditioning Layer", AAAI.
"""
from __future__ import annotations

import torch
from torch import nn

from metalib.backbones import conv_block
from metalib.metric.base import FewShotClassifier, check_tasks
from metalib.metric.prototypical import prototypes, prototypical_logits


class FiLMConv4(nn.Module):
    """Conv4 whose blocks take per-task ``(γ_l, β_l) [B, C]``: ``forward(x [B, P, 1, H, W], film) -> [B, P, D]``.

    Its parameters have the names of :class:`~metalib.backbones.Conv4`'s, so either loads the other's weights.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, pool_blocks: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(conv_block(in_channels if i == 0 else hidden, hidden, pool=i < pool_blocks)
                                    for i in range(4))
        self.hidden = hidden

    def forward(self, x: torch.Tensor, film: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        b, p = x.shape[:2]
        h = x.flatten(0, 1)
        for i, block in enumerate(self.blocks):
            conv, norm, relu, *pool = block
            h = norm(conv(h))
            if film is not None:
                gamma, beta = film[i]  # [B, C] -> every image of task b
                h = (h.unflatten(0, (b, p)) * (1 + gamma[:, None, :, None, None])
                     + beta[:, None, :, None, None]).flatten(0, 1)
            h = relu(h)
            for layer in pool:
                h = layer(h)
        return h.flatten(1).unflatten(0, (b, p))


class TaskEncoder(nn.Module):
    """``c̄ [B, D] -> [(γ_l, β_l)]``: a shared MLP, one linear map per block and output, scaled by ``a_l, b_l`` (zero at first)."""

    def __init__(self, feature_dim: int, channels: int, blocks: int = 4, hidden: int = 64) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU())
        self.gamma = nn.ModuleList(nn.Linear(hidden, channels) for _ in range(blocks))
        self.beta = nn.ModuleList(nn.Linear(hidden, channels) for _ in range(blocks))
        self.gamma_scale = nn.Parameter(torch.zeros(blocks))
        self.beta_scale = nn.Parameter(torch.zeros(blocks))

    def forward(self, task: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        h = self.trunk(task)
        return [(self.gamma_scale[i] * g(h), self.beta_scale[i] * b(h))
                for i, (g, b) in enumerate(zip(self.gamma, self.beta))]


class TADAM(FewShotClassifier):
    """A FiLM-conditioned Prototypical Network with metric scaling; ``film=False`` is the plain one with the same code.

    Args:
        backbone: a :class:`FiLMConv4`.
        feature_dim: the size of its output (64 for 28x28 images, ``hidden`` times the final map's area).
        film: condition on the task (``False``: a Prototypical Network with a learned scale ``α``).
        scale: the initial ``α``.
    """

    def __init__(self, backbone: FiLMConv4, feature_dim: int, film: bool = True, scale: float = 1.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.encoder = TaskEncoder(feature_dim, backbone.hidden, len(backbone.blocks)) if film else None
        self.log_scale = nn.Parameter(torch.tensor(float(scale)).log())

    def task_film(self, support_x: torch.Tensor, support_y: torch.Tensor, n_way: int | None = None):
        """The FiLM parameters of each task, from the mean prototype of the unconditioned network."""
        if self.encoder is None:
            return None
        task = prototypes(self.backbone(support_x), support_y, n_way).mean(1)  # [B, D]
        return self.encoder(task)

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int | None = None) -> torch.Tensor:
        check_tasks(support_x, support_y, query_x)
        film = self.task_film(support_x, support_y, n_way)
        s = support_x.shape[1]
        z = self.backbone(torch.cat([support_x, query_x], 1), film)  # one pass: batch norm sees both
        protos = prototypes(z[:, :s], support_y, n_way)
        return prototypical_logits(z[:, s:], protos, scale=self.log_scale.exp())
