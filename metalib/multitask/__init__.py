"""Multi-task learning: sharing parameters between tasks, and combining their losses or gradients.

One file per method:

- architectures: :mod:`~metalib.multitask.hard_sharing` (one trunk, a head per task),
  :mod:`~metalib.multitask.cross_stitch` (task columns mixed by learned units),
  :mod:`~metalib.multitask.soft_sharing` (separate trunks tied by an L2 penalty);
- loss weighting: :mod:`~metalib.multitask.scalarization` (equal weighting, the sum of log losses),
  :mod:`~metalib.multitask.uncertainty` (Kendall et al.), :mod:`~metalib.multitask.gradnorm`
  (Chen et al.), :mod:`~metalib.multitask.dwa` (dynamic weight average, Liu et al.),
  :mod:`~metalib.multitask.famo` (FAMO: the losses fall at one rate, from the losses alone);
- gradient combination on the shared parameters, each a function of the task Jacobian
  ``[T, P]`` returning one update ``[P]``: :func:`mean_gradient`, :func:`pcgrad`, :func:`mgda`,
  :func:`imtl_g`, :func:`cagrad`; the Jacobian from one batched backward pass
  (:mod:`~metalib.multitask.jacobian`) and the exact simplex solver of MGDA and CAGrad
  (:mod:`~metalib.multitask.simplex`);
- task grouping: :mod:`~metalib.multitask.tag` (lookahead affinity) and
  :mod:`~metalib.multitask.grouping` (the best split of the tasks into groups);
- :mod:`~metalib.multitask.metrics`: ``Δm``, the mean relative gain over single-task models.
"""
from .cagrad import cagrad, cagrad_weights
from .cross_stitch import CrossStitch
from .dwa import DynamicWeightAverage
from .famo import FAMO
from .gradnorm import GradNorm
from .grouping import best_grouping, grouping_score, partitions
from .hard_sharing import HardSharing
from .imtl_g import imtl_g, imtl_g_weights
from .jacobian import mean_gradient, task_jacobian, task_jacobian_loop, write_gradients
from .metrics import delta_m
from .mgda import mgda, mgda_weights
from .pcgrad import pcgrad, pcgrad_weights
from .scalarization import equal_weighting, log_sum
from .soft_sharing import L2SoftSharing
from .tag import lookahead_affinity
from .uncertainty import UncertaintyWeighting

AGGREGATORS = {"mean": mean_gradient, "pcgrad": pcgrad, "mgda": mgda, "imtl_g": imtl_g, "cagrad": cagrad}
"""The gradient-combination methods by name: each maps a Jacobian ``[T, P]`` to an update ``[P]``."""

__all__ = ["cagrad", "cagrad_weights", "CrossStitch", "DynamicWeightAverage", "FAMO", "GradNorm", "best_grouping",
           "grouping_score", "partitions", "HardSharing", "imtl_g", "imtl_g_weights", "mean_gradient",
           "task_jacobian", "task_jacobian_loop", "write_gradients", "delta_m", "mgda", "mgda_weights",
           "pcgrad", "pcgrad_weights", "equal_weighting", "log_sum", "L2SoftSharing", "lookahead_affinity",
           "UncertaintyWeighting", "AGGREGATORS"]
