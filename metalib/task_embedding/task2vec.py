"""Task2Vec: a task as the diagonal Fisher information of a probe network (Achille et al., 2019).

Fix a *probe* network ``f_θ`` (a feature extractor trained on other data), fit only a classifier
head on the task's labelled examples, and measure how much the task's loss depends on each of the
probe's weights: the diagonal of the Fisher information,

.. math::  F_{ii} = \\mathbb{E}_{x \\sim \\text{task}}\\; \\mathbb{E}_{y \\sim p_θ(y | x)}
                   \\Big[\\big(\\partial_{θ_i} \\log p_θ(y \\mid x)\\big)^2\\Big],

with the inner expectation taken **exactly**, a sum over the ``N`` classes weighted by the model's
own probabilities (no sampled labels, so the embedding is deterministic). The per-example,
per-class gradients come from one ``vmap`` of ``grad`` (no loop). Entries of one filter are
averaged (the paper's choice: it makes the vector the size of the number of filters), and two
tasks are compared by the cosine distance of the Fishers normalised by their sum,

.. math::  d(F_a, F_b) = 1 − \\cos\\!\\Big(\\frac{F_a}{F_a + F_b}, \\frac{F_b}{F_a + F_b}\\Big),

which no longer depends on the overall scale of the weights. The paper estimates the Fisher by a
variational ("robust") method; the plain diagonal Fisher here is the quantity it approximates.

Reference:
    Achille, Lam, Tewari, Ravichandran, Maji, Fowlkes, Soatto & Perona (2019), "Task2Vec: Task
    Embedding for Meta-Learning", ICCV.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap


def fit_head(features: torch.Tensor, labels: torch.Tensor, n_classes: int, steps: int = 100,
             lr: float = 0.5, weight_decay: float = 1e-3) -> nn.Linear:
    """A linear classifier on fixed ``features [P, d]`` (full-batch gradient descent on the cross-entropy)."""
    head = nn.Linear(features.shape[1], n_classes).to(features)
    opt = torch.optim.SGD(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(head(features), labels).backward()
        opt.step()
    return head


def diagonal_fisher(model: nn.Module, x: torch.Tensor, names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """``E_x Σ_y p(y|x) (∂ log p(y|x) / ∂θ)²`` for the parameters ``names`` (default: all) of ``model``.

    ``model`` maps inputs ``[P, ...]`` to logits ``[P, N]`` and must be in eval mode (batch norm
    then treats each example on its own, which per-example gradients need).
    """
    if model.training:
        raise ValueError("diagonal_fisher needs model.eval(): in training mode batch norm mixes the examples "
                         "and per-example gradients are not defined")
    params = {k: v.detach() for k, v in model.named_parameters() if names is None or k in names}
    if names is not None and len(params) != len(names):
        raise ValueError(f"unknown parameter names {sorted(set(names) - set(params))}")
    buffers = dict(model.named_buffers())
    others = {k: v.detach() for k, v in model.named_parameters() if k not in params}

    def log_prob(p, xi, onehot):
        logits = functional_call(model, (p, others, buffers), (xi[None],))
        return (logits.log_softmax(-1)[0] * onehot).sum()

    with torch.no_grad():
        probs = model(x).softmax(-1)                                                 # [P, N]
    n = probs.shape[1]
    classes = torch.eye(n, dtype=x.dtype, device=x.device)  # every label y, as a one-hot row
    per = vmap(vmap(grad(log_prob), in_dims=(None, None, 0)), in_dims=(None, 0, None))(params, x, classes)
    return {k: torch.einsum("pn,pn...->...", probs, g ** 2) / x.shape[0] for k, g in per.items()}


def filter_means(fisher: dict[str, torch.Tensor]) -> torch.Tensor:
    """One number per filter (output unit) of every weight tensor, concatenated: the task's vector."""
    return torch.cat([f.flatten(1).mean(1) if f.dim() > 1 else f for k, f in fisher.items() if k.endswith("weight")])


def task2vec_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalised cosine distance of two embeddings ``[D]`` (or of every pair: ``a [T, D]``, ``b [U, D]``)."""
    a2, b2 = (a[:, None], b[None]) if a.dim() == 2 else (a, b)
    total = a2 + b2 + 1e-12
    return 1 - F.cosine_similarity(a2 / total, b2 / total, dim=-1)
