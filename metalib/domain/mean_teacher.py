r"""Self-ensembling: a mean teacher on the target domain, with confidence thresholding and class balance.

French, Mackiewicz & Fisher (2018) adapt the mean teacher of Tarvainen & Valpola (2017). The teacher
is an exponential moving average of the student's weights, ``θ' ← α θ' + (1 − α) θ`` after every
step (``α = 0.99``). Each target example is augmented twice; the student's class probabilities
``s`` must match the teacher's ``t`` on the other augmentation:

.. math::  L_{\text{cons}} = \frac{1}{|T|} \sum_{x ∈ T} \mathbb{1}[\max_k t_k(x) > τ] \;
           \frac{1}{K} \sum_k (s_k(x) − t_k(x))^2,

counting only the examples the teacher is sure of (``τ = 0.968``, their *confidence
thresholding*): early in training the teacher is wrong on most target examples, and matching it
everywhere would teach the student its mistakes. With few confident examples the consistency term
alone could collapse the student onto the classes the teacher is sure of, so a *class balance*
term pulls the student's mean prediction over the batch, ``\bar s``, towards uniform,

.. math::  L_{\text{bal}} = q \sum_k \mathrm{BCE}(\bar s_k, 1/K),

a binary cross-entropy per class, where ``q`` is the fraction of the batch that passed the
threshold (the authors' published code scales the balance term by it). The loss is
``L_cons + balance · L_bal``.

Reference: French, Mackiewicz & Fisher (2018), "Self-ensembling for visual domain adaptation",
ICLR ("confidence thresholding" and the "class balance loss"); Tarvainen & Valpola (2017),
"Mean teachers are better role models", NeurIPS.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .adaptation import AdaptationBatch, Augment


def consistency_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                     threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The thresholded squared difference of probabilities, and the mask ``[T]`` of confident examples."""
    s, t = student_logits.softmax(-1), teacher_logits.softmax(-1)
    mask = (t.max(-1).values > threshold).to(s.dtype)
    return (((s - t) ** 2).mean(-1) * mask).mean(), mask


def class_balance_loss(student_logits: torch.Tensor) -> torch.Tensor:
    """``Σ_k BCE(mean_x s_k(x), 1/K)``: zero gradient when the batch's mean prediction is uniform."""
    mean = student_logits.softmax(-1).mean(0).clamp(1e-6, 1 - 1e-6)
    k = mean.shape[-1]
    u = 1.0 / k
    return -(u * mean.log() + (1 - u) * (1 - mean).log()).sum()


class MeanTeacher(nn.Module):
    """French et al.'s self-ensembling loss; the teacher is a frozen copy of ``model`` kept as an EMA.

    Args:
        model: the student (a :class:`~metalib.domain.adaptation.FeatureClassifier`), copied once.
        augment: ``augment(x, generator) -> x``, the teacher's augmentation of the target inputs
            (the student's comes from the training loop).
        decay: ``α``, the teacher's moving-average rate (0.99 in the paper).
        threshold: ``τ``, the teacher's confidence below which an example is ignored (0.968).
        balance: the weight of the class-balance term (default 1).
        seed: seeds the teacher's augmentation.
    """

    def __init__(self, model: nn.Module, augment: Augment | None = None, decay: float = 0.99,
                 threshold: float = 0.968, balance: float = 1.0, seed: int = 1) -> None:
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"decay must lie in [0, 1) (0.99 in the paper), got {decay!r}")
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must lie in [0, 1) (0.968 in the paper), got {threshold!r}")
        self.teacher = copy.deepcopy(model)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.augment, self.decay, self.threshold, self.balance = augment, decay, threshold, balance
        self.generator: torch.Generator | None = None
        self.seed = seed
        self.confident = torch.tensor(float("nan"))   # fraction of the last batch that passed τ

    def forward(self, batch: AdaptationBatch) -> torch.Tensor:
        x = batch.target_inputs
        if self.augment is not None:
            if self.generator is None:
                self.generator = torch.Generator(device=x.device).manual_seed(self.seed)
            x = self.augment(x, self.generator)
        self.teacher.eval()
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        loss, mask = consistency_loss(batch.target_logits, teacher_logits, self.threshold)
        self.confident = mask.mean().detach()
        if self.balance:
            loss = loss + self.balance * mask.mean() * class_balance_loss(batch.target_logits)
        return loss

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        """``θ' ← α θ' + (1 - α) θ`` for every parameter and buffer of the teacher."""
        for t, s in zip(self.teacher.parameters(), model.parameters()):
            t.mul_(self.decay).add_(s.detach(), alpha=1 - self.decay)
        for t, s in zip(self.teacher.buffers(), model.buffers()):
            t.copy_(s)
