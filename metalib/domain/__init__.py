"""Domain adaptation and domain generalisation: a loss module per method, one loop for all of them.

- the shared loop and batch: :mod:`~metalib.domain.adaptation` (:class:`FeatureClassifier`,
  :class:`AdaptationBatch`, :func:`train_adaptation`, :func:`accuracy`, :func:`gaussian_noise`);
- alignment losses: :mod:`~metalib.domain.dann` (a domain classifier behind the gradient-reversal
  layer of :mod:`~metalib.domain.reversal`), :mod:`~metalib.domain.mmd` (multi-kernel MMD, DAN),
  :mod:`~metalib.domain.coral` (Deep CORAL, and linear CORAL in closed form);
- target self-training: :mod:`~metalib.domain.mean_teacher` (self-ensembling),
  :mod:`~metalib.domain.entropy` (entropy minimisation, which fails on its own);
- :mod:`~metalib.domain.validators`: choosing a method's weight without target labels;
- :mod:`~metalib.domain.mldg`: meta-learning for domain generalisation.
- :mod:`~metalib.domain.digits_protocol`: chapter 6's font-to-real digit split, model and validator scores,
  shared with ``experiments/domain_digits.py``.
"""
from .adaptation import AdaptationBatch, FeatureClassifier, accuracy, gaussian_noise, train_adaptation
from .coral import CORALLoss, coral_loss, coral_transform, covariance
from .dann import DANNLoss
from .entropy import EntropyMinimization, mean_entropy
from .mean_teacher import MeanTeacher, class_balance_loss, consistency_loss
from .mldg import MLDG
from .mmd import MMDLoss, gaussian_kernel_sum, mmd2
from .reversal import GradientReversal, ganin_schedule, reverse_gradient
from .validators import (deep_embedded_validation, density_ratio, importance_weighted_accuracy,
                         information_maximization, reverse_validation, source_accuracy)

__all__ = ["AdaptationBatch", "FeatureClassifier", "accuracy", "gaussian_noise", "train_adaptation", "CORALLoss", "coral_loss",
           "coral_transform", "covariance", "DANNLoss", "EntropyMinimization", "mean_entropy", "MeanTeacher",
           "class_balance_loss", "consistency_loss", "MLDG", "MMDLoss", "gaussian_kernel_sum", "mmd2",
           "GradientReversal", "ganin_schedule", "reverse_gradient", "deep_embedded_validation", "density_ratio",
           "importance_weighted_accuracy", "information_maximization", "reverse_validation", "source_accuracy"]
