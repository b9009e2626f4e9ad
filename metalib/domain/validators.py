"""Choosing an adaptation weight without target labels: five validators, each a score to maximise.

Unsupervised adaptation has no labelled target data, so a method's weight (or its stopping
step) cannot be chosen by target accuracy without cheating; many papers do exactly that
(Musgrave, Belongie & Lim, 2022, "Benchmarking Validation Methods for Unsupervised Domain
Adaptation"). What can be computed instead, for a trained model, from labelled source validation
data ``(x_v, y_v)`` and unlabelled target data ``x_t``:

- :func:`source_accuracy`: accuracy on held-out source data. It ignores the target entirely, so it
  favours the model that stayed closest to source-only training.
- :func:`importance_weighted_accuracy` (IWV, Sugiyama, Krauledat & Müller, 2007): source accuracy
  with each validation example weighted by the density ratio ``w(x) = p_T(x) / p_S(x)``, which is
  unbiased for the target accuracy under covariate shift (``p(y | x)`` the same in both domains).
  The ratio comes from a domain classifier, :func:`density_ratio` (Bickel, Brückner & Scheffer,
  2007): ``w(x) = (n_S / n_T) · P(T | x) / P(S | x)``. The weighted mean is self-normalised,
  ``Σ w_i c_i / Σ w_i``.
- :func:`deep_embedded_validation` (DEV, You, Wang, Long & Jordan, 2019, Algorithm 1): the same
  weighted risk on the model's features, with a control variate that cuts its variance,
  ``R = mean(w ℓ) + η mean(w) − η`` with ``η = −Cov(w ℓ, w) / Var(w)``; returned as ``−R``.
- :func:`information_maximization` (IM, used as a validator by Musgrave et al., 2022; the loss of
  Gomes, Krause & Perona, 2010): ``H(mean_x p(x)) − mean_x H(p(x))`` on the target, high when
  predictions are confident *and* spread over the classes.
- :func:`reverse_validation` (Zhong et al., 2010; used by Ganin et al., 2016): label the
  target with the model, train a classifier on those pseudo-labels, and score it on labelled source
  data. Here the reverse classifier is a logistic regression on the model's features, not a second
  run of the adaptation method the papers use.

Every function returns a number where higher is better. The entropies are in nats.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .entropy import mean_entropy


def _numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().double().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def _classifier(c: float) -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def source_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The accuracy of ``logits [n, K]`` on the source validation labels ``[n]``."""
    return float((logits.argmax(-1) == labels).double().mean())


def density_ratio(source: torch.Tensor, target: torch.Tensor, at: torch.Tensor | None = None,
                  c: float = 1.0) -> np.ndarray:
    """``p_T(x) / p_S(x)`` at ``at`` (default: the source rows), from a logistic domain classifier.

    Args:
        source, target: features ``[n_S, D]`` and ``[n_T, D]`` the classifier is fit on.
        at: where to evaluate the ratio (e.g. the source validation features).
        c: the inverse L2 penalty of the logistic regression.
    """
    s, t = _numpy(source), _numpy(target)
    if s.ndim != 2 or t.ndim != 2 or s.shape[1] != t.shape[1]:
        raise ValueError(f"density_ratio expects features [n_S, D] and [n_T, D], got {s.shape} and {t.shape}")
    model = _classifier(c).fit(np.concatenate([s, t]), np.r_[np.zeros(len(s)), np.ones(len(t))])
    p = model.predict_proba(s if at is None else _numpy(at))[:, 1].clip(1e-6, 1 - 1e-6)
    return (len(s) / len(t)) * p / (1 - p)


def _check_weights(values: np.ndarray, weights: np.ndarray, name: str) -> None:
    if values.shape != weights.shape or values.ndim != 1:
        raise ValueError(f"{name}: one weight per validation example expected, got {values.shape} values "
                         f"and {weights.shape} weights")
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"{name}: the weights must be finite, >= 0 and not all zero")


def importance_weighted_accuracy(correct: torch.Tensor | np.ndarray, weights: np.ndarray) -> float:
    """IWV: ``Σ w_i c_i / Σ w_i`` for ``c_i`` = 1 where the model is right on source example ``i``."""
    c, w = _numpy(correct), np.asarray(weights, dtype=np.float64)
    _check_weights(c, w, "importance_weighted_accuracy")
    return float((w * c).sum() / w.sum())


def deep_embedded_validation(losses: torch.Tensor | np.ndarray, weights: np.ndarray) -> float:
    """DEV: ``−(mean(w ℓ) + η mean(w) − η)``, ``η = −Cov(w ℓ, w) / Var(w)``, for per-example losses ``ℓ``."""
    loss, w = _numpy(losses), np.asarray(weights, dtype=np.float64)
    _check_weights(loss, w, "deep_embedded_validation")
    weighted = w * loss
    variance = w.var(ddof=1) if len(w) > 1 else 0.0
    eta = -np.cov(weighted, w, ddof=1)[0, 1] / variance if variance > 0 else 0.0
    return float(-(weighted.mean() + eta * w.mean() - eta))


def information_maximization(logits: torch.Tensor) -> float:
    """IM: ``H(mean p) − mean H(p)`` of the target predictions ``softmax(logits [n, K])``."""
    logits = logits.double()
    mean = logits.softmax(-1).mean(0)
    marginal = -(mean * mean.clamp_min(1e-300).log()).sum()
    return float(marginal - mean_entropy(logits))


def reverse_validation(target_features: torch.Tensor, target_logits: torch.Tensor,
                       source_features: torch.Tensor, source_labels: torch.Tensor, c: float = 1.0) -> float:
    """Accuracy on the labelled source of a logistic regression trained on the target's pseudo-labels."""
    pseudo = target_logits.argmax(-1).cpu().numpy()
    if len(np.unique(pseudo)) < 2:
        return 0.0   # every target example got one label: nothing to train the reverse classifier on
    model = _classifier(c).fit(_numpy(target_features), pseudo)
    return float((model.predict(_numpy(source_features)) == source_labels.cpu().numpy()).mean())
