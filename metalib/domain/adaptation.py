r"""The loop every unsupervised domain-adaptation method here shares, and the batch its losses read.

A method is a loss module (one per file: :mod:`~metalib.domain.dann`, :mod:`~metalib.domain.mmd`,
:mod:`~metalib.domain.coral`, :mod:`~metalib.domain.mean_teacher`, :mod:`~metalib.domain.entropy`).
Each step of :func:`train_adaptation` draws a labelled source batch and an unlabelled target batch,
runs the model on both in one call, and descends

.. math::  L = \underbrace{\mathrm{CE}(g(f(x_S)), y_S)}_{\text{source risk}} + w \cdot L_{\text{method}}(\text{batch}),

where ``w`` is the adaptation weight. ``method=None`` is the source-only baseline; the same call
on the target's own labelled examples is the target oracle. The loss modules only read an :class:`AdaptationBatch`, so a new method is a new
``nn.Module`` with ``forward(batch) -> scalar``; ``set_progress(p)`` (called with ``step / steps``
before each step) and ``after_step(model)`` (after each optimiser step) are optional hooks, used by
DANN's schedule and the mean teacher's moving average.

The same split into a loss module and a shared loop is pytorch-adapt's (Musgrave et al., 2022)
and the Transfer-Learning-Library's (Jiang et al.).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..training import train

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class FeatureClassifier(nn.Module):
    """``x -> features f(x) -> logits g(f(x))``: the split every adaptation loss needs.

    Args:
        features: the feature extractor ``f`` (``[M, ...] -> [M, D]``).
        head: the label classifier ``g`` (``[M, D] -> [M, classes]``).
    """

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(x)
        return z, self.head(z)


@dataclass
class AdaptationBatch:
    """What a step's loss modules may read: both domains' features and logits, and the target inputs.

    ``target_inputs`` are the target images before the loop's augmentation (the mean teacher
    augments them its own way for the teacher); the features and logits are the model's outputs on
    the augmented inputs.
    """
    source_features: torch.Tensor   # [S, D]
    target_features: torch.Tensor   # [T, D]
    source_logits: torch.Tensor     # [S, classes]
    target_logits: torch.Tensor     # [T, classes]
    source_labels: torch.Tensor     # [S]
    target_inputs: torch.Tensor     # [T, ...]


def _check_data(source_x: torch.Tensor, source_y: torch.Tensor, target_x: torch.Tensor | None) -> None:
    if source_x.shape[0] != source_y.shape[0] or source_y.dim() != 1:
        raise ValueError(f"source_x [N, ...] and source_y [N] must hold the same examples, got "
                         f"{tuple(source_x.shape)} and {tuple(source_y.shape)}")
    if target_x is not None and target_x.shape[1:] != source_x.shape[1:]:
        raise ValueError(f"target_x {tuple(target_x.shape)} must hold examples of the source's shape "
                         f"{tuple(source_x.shape[1:])}: the same model reads both domains")
    for name, x in (("source_x", source_x), ("target_x", target_x)):
        if x is not None and x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} holds NaN or infinite values; clean the data before adapting")


def train_adaptation(model: FeatureClassifier, source_x: torch.Tensor, source_y: torch.Tensor,
                     target_x: torch.Tensor | None = None, method: nn.Module | None = None,
                     weight: float = 1.0, steps: int = 1500, batch_size: int = 64, lr: float = 1e-3,
                     augment: Augment | None = None, seed: int = 0, desc: str | None = None,
                     progress: bool | None = None) -> list[float]:
    """Train ``model`` (and ``method``'s own parameters) with Adam on ``CE + weight * method``.

    Args:
        model: a :class:`FeatureClassifier`, trained in place.
        source_x, source_y: the labelled source examples ``[N, ...]`` and labels ``[N]``.
        target_x: the unlabelled target examples ``[M, ...]`` (needed unless ``method`` is None).
        method: a loss module reading an :class:`AdaptationBatch`; ``None`` trains on the source alone.
        weight: ``w``, the method's weight (``>= 0``; 0 leaves the model as source-only training
            would, although ``method``'s own parameters, e.g. DANN's discriminator, still train).
        steps, batch_size, lr: Adam steps, examples per domain and step, learning rate.
        augment: ``augment(x, generator) -> x``, applied to both domains' batches (the same for every
            method, so that a gain is the method's and not the augmentation's).
        seed: seeds the batches and the augmentation (the model's initialisation is the caller's).

    Returns:
        the total loss of every step.
    """
    _check_data(source_x, source_y, target_x)
    if method is not None and target_x is None:
        raise ValueError("an adaptation method needs target_x, the unlabelled target examples")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise ValueError(f"weight must be a number >= 0, got {weight!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = source_x.device
    # separate streams for the source batches (and their augmentation) and the target ones, so that a
    # method at weight 0 sees exactly the source batches of source-only training
    source_stream = torch.Generator(device=device).manual_seed(seed)
    target_stream = torch.Generator(device=device).manual_seed(seed + 1)
    modules = [model] + ([method] if method is not None else [])
    parameters = [p for m in modules for p in m.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(parameters, lr=lr)
    n_source, n_target = source_x.shape[0], (target_x.shape[0] if target_x is not None else 0)

    def step(i: int) -> torch.Tensor:
        model.train()
        s = torch.randint(n_source, (batch_size,), device=device, generator=source_stream)
        xs, ys = source_x[s], source_y[s]
        seen_xs = augment(xs, source_stream) if augment is not None else xs
        if method is None:
            loss = F.cross_entropy(model(seen_xs), ys)
        else:
            t = torch.randint(n_target, (batch_size,), device=device, generator=target_stream)
            xt = target_x[t]
            seen_xt = augment(xt, target_stream) if augment is not None else xt
            z, logits = model.features_and_logits(torch.cat([seen_xs, seen_xt]))
            batch = AdaptationBatch(z[:batch_size], z[batch_size:], logits[:batch_size], logits[batch_size:],
                                    ys, xt)
            if hasattr(method, "set_progress"):
                method.set_progress(i / steps)
            loss = F.cross_entropy(batch.source_logits, ys) + weight * method(batch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if method is not None and hasattr(method, "after_step"):
            method.after_step(model)
        return loss.detach()

    name = desc or (type(method).__name__ if method is not None else "source only")
    return train(step, steps, desc=name, progress=progress)


def gaussian_noise(std: float) -> Augment:
    """The augmentation ``x + std · N(0, I)``, drawn from the loop's generator (``std >= 0``)."""
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std!r}")

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    return augment


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> float:
    """The fraction of ``x`` that ``model`` (in eval mode) labels ``y``."""
    model.eval()
    correct = sum(int((model(x[i:i + chunk]).argmax(-1) == y[i:i + chunk]).sum()) for i in range(0, len(x), chunk))
    return correct / max(len(x), 1)
