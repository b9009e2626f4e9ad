"""metalib: the code behind the course *Everything is a Mapping*.

Small modules with names that say what they hold:

- :mod:`metalib.threads`: CPU threads that sleep instead of spinning when idle (set at import,
  before PyTorch loads; see the module for why and what it measured).
- :mod:`metalib.device`: :func:`get_device` (CUDA when present, ``METALIB_DEVICE`` overrides) and
  :func:`seed_everything`.
- :mod:`metalib.budget`: the ``default`` and ``full`` budgets (``METALIB_BUDGET``).
- :mod:`metalib.data`: data sets by name (:func:`metalib.data.load`) and sinusoid tasks.
- :mod:`metalib.tasks`: :class:`EpisodeSampler`, N-way K-shot tasks in batches, built on the device.
- :mod:`metalib.evaluation`: :func:`evaluate`, mean accuracy with a 95% interval over test episodes.
- :mod:`metalib.training`: :func:`train`, the shared loop with a progress bar and NaN checks.
- :mod:`metalib.distributed`: data-parallel meta-training under ``torchrun`` (a meta-batch's share
  per process, gradients averaged, evaluation gathered).
- :mod:`metalib.finetune`: :func:`~metalib.finetune.adapt`, gradient descent on a batch of tasks at once
  (``torch.func``), the learner of fine-tuning and MAML.
- :mod:`metalib.metric`: metric-based methods (Siamese, Prototypical, Matching, Relation networks).
- :mod:`metalib.optimization`: optimisation-based methods (MAML, first-order MAML, Meta-SGD, ANIL,
  Reptile, the LSTM meta-learner), a whole meta-batch of tasks at once.
- :mod:`metalib.multitask`, :mod:`metalib.model_based`, :mod:`metalib.task_embedding`: chapters 2 and 5.
- :mod:`metalib.domain`: domain adaptation (a loss module per method and one shared loop), validators
  that choose without target labels, and MLDG.
- :mod:`metalib.rl`: meta-reinforcement learning (2-D navigation, batched over tasks and trajectories).
- :mod:`metalib.plotting`: figure helpers the chapters share.
- :mod:`metalib.controls`: sliders over a figure, live in Jupyter and drawn in advance for the web page.
- :mod:`metalib.progress`: the progress bar of :func:`train`, which leaves a line of text behind.
"""
from .threads import wait_passively

wait_passively()   # before anything imports torch: libgomp reads the policy once, at load

from . import budget, data  # noqa: E402
from .device import get_device, seed_everything
from .evaluation import Estimate, evaluate, mean_ci95
from .tasks import Episode, EpisodeSampler
from .training import NonFiniteLossError, train

__version__ = "0.1.0"

__all__ = ["budget", "data", "get_device", "seed_everything", "Estimate", "evaluate", "mean_ci95",
           "Episode", "EpisodeSampler", "NonFiniteLossError", "train"]
