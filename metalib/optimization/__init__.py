"""Optimisation-based meta-learning: learn the starting point (and the steps) of gradient descent.

One file per method, each adapting a whole meta-batch of tasks at once (``torch.func``):

- :mod:`~metalib.optimization.maml`: :class:`MAML`, second order or first order (``first_order=True``);
- :mod:`~metalib.optimization.metasgd`: :class:`MetaSGD`, a learned step size per parameter;
- :mod:`~metalib.optimization.anil`: :class:`ANIL`, the inner loop on the head only;
- :mod:`~metalib.optimization.reptile`: :class:`Reptile`, ``θ ← θ + ε mean(θ_b − θ)``;
- :mod:`~metalib.optimization.lstm_meta_learner`: :class:`LSTMMetaLearner`, a learned update rule;
- :mod:`~metalib.optimization.inner`: the shared inner loop and the input checks;
- :mod:`~metalib.optimization.batchnorm`: batch norm with its statistics written out (exact second
  derivatives under ``vmap``).

All share the interface of :class:`MAML`: ``adapt(support_x, support_y) -> params``,
``predict(params, x)``, ``forward(support_x, support_y, query_x)`` and ``loss(episode)``.
"""
from .anil import ANIL
from .batchnorm import BatchStatNorm, with_batch_statistics
from .inner import NonFiniteInnerLossError, batched_call, gradient_steps
from .lstm_meta_learner import LSTMMetaLearner, MetaLSTMCell, preprocess
from .maml import MAML
from .metasgd import MetaSGD
from .reptile import Reptile

__all__ = ["ANIL", "BatchStatNorm", "with_batch_statistics", "NonFiniteInnerLossError", "batched_call",
           "gradient_steps", "LSTMMetaLearner", "MetaLSTMCell", "preprocess", "MAML", "MetaSGD", "Reptile"]
