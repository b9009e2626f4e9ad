"""Task embeddings: a vector per task that a shared learner conditions on (chapter 5).

- :mod:`~metalib.task_embedding.cavia`: :class:`CAVIA`, context parameters adapted by gradient
  descent while the network stays fixed (Zintgraf et al., 2019);
- :mod:`~metalib.task_embedding.tadam`: :class:`TADAM`, a task encoder that produces FiLM
  parameters for a Prototypical Network (Oreshkin et al., 2018; Perez et al., 2018);
- :mod:`~metalib.task_embedding.leo`: :class:`LEO`, the inner loop in a learned latent space
  from which a classifier's weights are decoded (Rusu et al., 2019);
- :mod:`~metalib.task_embedding.task2vec`: Task2Vec, a task as the diagonal Fisher information
  of a probe network (Achille et al., 2019).
"""
from .cavia import CAVIA
from .leo import LEO
from .tadam import TADAM, FiLMConv4
from .task2vec import diagonal_fisher, filter_means, fit_head, task2vec_distance

__all__ = ["CAVIA", "LEO", "TADAM", "FiLMConv4", "diagonal_fisher", "filter_means", "fit_head",
           "task2vec_distance"]
