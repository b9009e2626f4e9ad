"""Model-based meta-learning: learners that are networks reading a task (chapter 5).

- :mod:`~metalib.model_based.sequences`: episodes as label-concatenated sequences, the input of
  black-box in-context learners (support and queries shuffled, query labels zeroed), and Santoro
  et al.'s online episodes (each label arrives one step after its image);
- :mod:`~metalib.model_based.image_sequences`: :class:`EmbeddedSequenceLearner`, a convolutional
  embedding of every image in front of any of the learners below;
- black-box in-context learners on those sequences, each causal: :class:`InContextTransformer`
  (:mod:`~metalib.model_based.transformer`, built on :mod:`~metalib.model_based.attention`),
  :class:`SNAIL` (:mod:`~metalib.model_based.snail`), :class:`LSTMLearner`
  (:mod:`~metalib.model_based.lstm_learner`), :class:`MANN` (:mod:`~metalib.model_based.mann`, an
  external memory with least-recently-used access);
- :mod:`~metalib.model_based.meta_networks`: :class:`MetaNetwork`, fast weights generated from
  the support examples' loss gradients (Munkhdalai & Yu, 2017);
- :mod:`~metalib.model_based.cnp`: :class:`ConditionalNeuralProcess` (Garnelo et al., 2018);
- :mod:`~metalib.model_based.neural_process`: :class:`LatentNeuralProcess`, with the ELBO;

with GP-drawn functions and the exact GP posterior (the oracle) in :mod:`metalib.data.gp`, and
chapter 5's glyph tasks and learners (shared by the notebook and its experiment script) in
:mod:`~metalib.model_based.glyph_protocol`.
"""
from .attention import CausalSelfAttention, causal_mask
from .cnp import ConditionalNeuralProcess
from .image_sequences import EmbeddedSequenceLearner
from .lstm_learner import LSTMLearner
from .mann import MANN
from .meta_networks import MetaNetwork
from .neural_process import LatentNeuralProcess
from .sequences import LabelSequences, OnlineSequences, label_sequences, online_sequences
from .snail import SNAIL
from .transformer import InContextTransformer

__all__ = ["CausalSelfAttention", "causal_mask", "ConditionalNeuralProcess", "EmbeddedSequenceLearner",
           "LSTMLearner", "MANN", "MetaNetwork", "LatentNeuralProcess", "LabelSequences", "label_sequences",
           "OnlineSequences", "online_sequences", "SNAIL", "InContextTransformer"]
