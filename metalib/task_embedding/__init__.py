"""Task embeddings: a vector per task that a shared learner conditions on (chapter 5, in progress).

- :mod:`~metalib.task_embedding.cavia`: :class:`CAVIA`, context parameters adapted by gradient
  descent while the network stays fixed (Zintgraf et al., 2019).
"""
from .cavia import CAVIA

__all__ = ["CAVIA"]
