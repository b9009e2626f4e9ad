"""Model-based meta-learning: learners that are networks reading a task (chapter 5, in progress).

So far:

- :mod:`~metalib.model_based.sequences`: episodes as label-concatenated sequences, the input of
  black-box in-context learners (support shuffled, query labels zeroed);
- :mod:`~metalib.model_based.cnp`: :class:`ConditionalNeuralProcess` (Garnelo et al., 2018);
- :mod:`~metalib.model_based.neural_process`: :class:`LatentNeuralProcess`, with the ELBO;

with GP-drawn functions and the exact GP posterior (the oracle) in :mod:`metalib.data.gp`.
"""
from .cnp import ConditionalNeuralProcess
from .neural_process import LatentNeuralProcess
from .sequences import LabelSequences, label_sequences

__all__ = ["ConditionalNeuralProcess", "LatentNeuralProcess", "LabelSequences", "label_sequences"]
