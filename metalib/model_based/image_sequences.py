"""An in-context learner that embeds each image of a label-concatenated sequence before reading it.

The sequence builders (:mod:`~metalib.model_based.sequences`) flatten every image beside its label,
``[B, L, H·W + N]``. A transformer or an LSTM reading raw pixels must learn what a character looks
like *through* the sequence loss, which is slow; SNAIL (Mishra et al., 2018) and most later
black-box learners put a convolutional embedding in front and train it with the rest, end to end:

.. math::  (x_t, y_t) \\;\\mapsto\\; \\big(f_φ(x_t), y_t\\big) \\;\\to\\; \\text{learner}.

All ``B·L`` images go through the embedding in one call.
"""
from __future__ import annotations

import torch
from torch import nn


class EmbeddedSequenceLearner(nn.Module):
    """``forward(inputs [B, L, H·W + N]) -> learner(cat(f(images), labels))``.

    Args:
        embedding: images ``[M, 1, H, W]`` to vectors ``[M, D]`` (a :class:`~metalib.backbones.Conv4`).
        learner: a sequence model on ``[B, L, D + N]`` (built with ``input_dim = D + N``).
        image_shape: ``(C, H, W)`` of the images in the sequence.
    """

    def __init__(self, embedding: nn.Module, learner: nn.Module, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.embedding, self.learner, self.image_shape = embedding, learner, tuple(image_shape)
        self.pixels = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 3 or inputs.shape[-1] <= self.pixels:
            raise ValueError(f"expected sequences [B, L, {self.pixels} + N] of {self.image_shape} images with their "
                             f"labels, got {tuple(inputs.shape)}; build them with label_sequences or online_sequences")
        b, length = inputs.shape[:2]
        images = inputs[..., :self.pixels].reshape(b * length, *self.image_shape)
        z = self.embedding(images).view(b, length, -1)
        return self.learner(torch.cat([z, inputs[..., self.pixels:]], -1))
