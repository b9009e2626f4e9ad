"""Chapter 5's glyph tasks and learners: one protocol for the notebook and ``experiments/model_based_glyphs.py``.

Every learner of the chapter's comparison reads the same tasks: 1-shot tasks of glyph characters
from alphabets held out of meta-training, images averaged down to 14x14 (:func:`shrink`: a quarter
of the pixels, which is what lets every learner train for 2,000 steps on 2 CPU cores), and the same
embedding in front of each, a Conv4 of 32 filters whose three max-pools turn 14x14 into one
position (:func:`embedding`). The black-box learners read the task as a label-concatenated
sequence; the others read the support set and the queries directly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metalib.backbones import Conv4
from metalib.tasks import Episode

from .image_sequences import EmbeddedSequenceLearner
from .lstm_learner import LSTMLearner
from .mann import MANN
from .sequences import LabelSequences
from .snail import SNAIL
from .transformer import InContextTransformer

SIDE = 14
HIDDEN = 32
SEQUENCE_LEARNERS = ("transformer", "snail", "mann", "lstm")


def shrink(episode: Episode) -> Episode:
    """The same tasks with every image averaged over 2x2 blocks (28x28 to 14x14)."""
    def half(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.flatten(0, 1), 2).unflatten(0, x.shape[:2])

    return Episode(half(episode.support_x), episode.support_y, half(episode.query_x), episode.query_y,
                   episode.classes, episode.examples)


def embedding() -> Conv4:
    """The chapter's image embedding: 14x14 images to 32 numbers."""
    return Conv4(hidden=HIDDEN, pool_blocks=3)


def sequence_learner(name: str, n_way: int, length: int) -> EmbeddedSequenceLearner:
    """One of :data:`SEQUENCE_LEARNERS` behind the chapter's embedding; ``length`` is the longest sequence (SNAIL)."""
    width = HIDDEN + n_way
    learners = {"transformer": lambda: InContextTransformer(width, n_way),
                "snail": lambda: SNAIL(width, n_way, length),
                "mann": lambda: MANN(width, n_way),
                "lstm": lambda: LSTMLearner(width, n_way)}
    if name not in learners:
        raise ValueError(f"unknown sequence learner {name!r}; choose one of {', '.join(SEQUENCE_LEARNERS)}")
    return EmbeddedSequenceLearner(embedding(), learners[name](), (1, SIDE, SIDE))


def query_scores(model: nn.Module, seq: LabelSequences, n_way: int | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A sequence learner's scores ``[B, M, n_way]`` at the query positions, and the query labels ``[B, M]``.

    ``n_way`` below the model's outputs scores only the task's classes (a 3-way learner on 2-way tasks).
    """
    logits = model(seq.inputs)[:, seq.is_query]
    return (logits if n_way is None else logits[..., :n_way]), seq.labels[:, seq.is_query]
