"""The simplest black-box in-context learner: an LSTM that reads the label-concatenated sequence.

The recurrent state must hold everything the model has seen of the task, which is also its
weakness: early in training the state carries no usable link between an image and the label
beside it, the loss gives no gradient towards forming one until it does, and the accuracy sits at
chance for a long plateau (the chapter shows it). Memory-augmented networks and SNAIL exist to give
the learner a more direct way back to what it saw (Santoro et al., 2016; Mishra et al., 2018).
"""
from __future__ import annotations

import torch
from torch import nn


class LSTMLearner(nn.Module):
    """``forward(inputs [B, L, D + N]) -> logits [B, L, N]``."""

    def __init__(self, input_dim: int, n_way: int, hidden: int = 128, layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden, num_layers=layers, batch_first=True)
        self.readout = nn.Linear(hidden, n_way)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.lstm(inputs)[0])
