"""A memory-augmented neural network with least-recently-used access (Santoro et al., 2016).

An LSTM controller reads the label-concatenated sequence one step at a time and talks to an
external memory ``M [slots, width]``:

- **read**: a key ``k_t`` from the controller; cosine similarity with every slot, a softmax over
  slots gives the read weights ``w^r_t``, and the read vector is ``r_t = Σ_i w^r_t(i) M_t(i)``;
- **write** (least-recently-used access): the write weights interpolate between the slots read
  last step and the least-used slot, ``w^w_t = σ(α) w^r_{t−1} + (1 − σ(α)) w^{lu}_{t−1}``; the
  usage decays, ``w^u_t = γ w^u_{t−1} + w^r_t + w^w_t``; the least-used slot is cleared before
  each write, and ``M_t(i) = M_{t−1}(i) + w^w_t(i) k_t``.

The output at step ``t`` is a linear map of the controller state and the read vector. Cosine
similarity is taken with a small ``ε`` in the norms, so reads from the zero-initialised memory
are finite (uniform weights, a zero read). All ``B`` tasks run at once; the loop is over the
steps of the sequence, which a recurrent memory cannot avoid.

References:
    Santoro, Bartunov, Botvinick, Wierstra & Lillicrap (2016), "Meta-Learning with
    Memory-Augmented Neural Networks", ICML.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-8


class MANN(nn.Module):
    """``forward(inputs [B, L, D + N]) -> logits [B, L, N]``."""

    def __init__(self, input_dim: int, n_way: int, hidden: int = 128, slots: int = 32, width: int = 40,
                 gamma: float = 0.95) -> None:
        super().__init__()
        self.controller = nn.LSTMCell(input_dim + width, hidden)
        self.key = nn.Linear(hidden, width)
        self.gate = nn.Linear(hidden, 1)  # α, the write interpolation
        self.readout = nn.Linear(hidden + width, n_way)
        self.slots, self.width, self.gamma = slots, width, gamma

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        b, length, _ = inputs.shape
        h = inputs.new_zeros(b, self.controller.hidden_size)
        c = torch.zeros_like(h)
        memory = inputs.new_zeros(b, self.slots, self.width)
        read = inputs.new_zeros(b, self.width)
        read_w = inputs.new_zeros(b, self.slots)
        usage = inputs.new_zeros(b, self.slots)
        outputs = []
        for t in range(length):
            h, c = self.controller(torch.cat([inputs[:, t], read], -1), (h, c))
            key = torch.tanh(self.key(h))
            least_used = F.one_hot(usage.argmin(1), self.slots).to(inputs.dtype)
            alpha = torch.sigmoid(self.gate(h))
            write_w = alpha * read_w + (1 - alpha) * least_used
            memory = memory * (1 - least_used)[:, :, None]  # clear the least-used slot
            memory = memory + write_w[:, :, None] * key[:, None, :]
            similarity = F.cosine_similarity(key[:, None, :], memory, dim=-1, eps=EPS)
            read_w = torch.softmax(similarity, -1)
            read = (read_w[:, :, None] * memory).sum(1)
            usage = self.gamma * usage + read_w + write_w
            outputs.append(self.readout(torch.cat([h, read], -1)))
        return torch.stack(outputs, 1)
