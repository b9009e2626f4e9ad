"""The LSTM meta-learner of Ravi & Larochelle (2017): a learned update rule in place of gradient descent.

Gradient descent ``θ_t = θ_{t−1} − α ∇_t`` looks like the cell update of an LSTM,
``c_t = f_t ⊙ c_{t−1} + i_t ⊙ \\tilde c_t``, with the cell state ``c_t = θ_t``, the candidate
``\\tilde c_t = −∇_t``, a forget gate ``f_t = 1`` and an input gate ``i_t = α``. Ravi & Larochelle
learn the gates instead, per coordinate of ``θ`` and from what the learner sees:

.. math::  i_t = σ(W_I [h_t, θ_{t−1}, i_{t−1}] + b_I), \\qquad
           f_t = σ(W_F [h_t, θ_{t−1}, f_{t−1}] + b_F), \\qquad
           θ_t = f_t ⊙ θ_{t−1} − i_t ⊙ ∇_t,

where ``h_t`` is the output of an ordinary LSTM (20 units) reading the preprocessed gradient and loss
of that coordinate (Andrychowicz et al., 2016, Appendix A). One set of gate weights is shared by all
coordinates, so the meta-learner is small whatever the learner's size. The initial cell state
``c_0 = θ_0`` is meta-learned too (the learner's initialisation). As in the paper, the gradients fed
in are treated as inputs: no second derivatives.

Here every coordinate of every task of a meta-batch is one row of a ``[B·P, ·]`` tensor, so a step of
the meta-learner is one LSTM call for all of them.

References:
    Ravi & Larochelle (2017), "Optimization as a Model for Few-Shot Learning", ICLR.
    Andrychowicz et al. (2016), "Learning to learn by gradient descent by gradient descent", NeurIPS.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .inner import Params, check_finite_losses, check_steps, check_task_batch
from .maml import MAML, Loss


def preprocess(x: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """``[...] -> [..., 2]``: ``(log|x| / p, sign x)`` if ``|x| >= e^{-p}``, else ``(−1, e^p x)``.

    Gradients and losses span many orders of magnitude; this keeps both the scale and the sign in a
    range an LSTM can read (Andrychowicz et al., 2016, Appendix A).
    """
    big = x.abs() >= math.exp(-p)
    first = torch.where(big, x.abs().clamp_min(math.exp(-p)).log() / p, torch.full_like(x, -1.0))
    second = torch.where(big, x.sign(), math.exp(p) * x)
    return torch.stack([first, second], -1)


class MetaLSTMCell(nn.Module):
    """The gates ``f_t, i_t`` and the update ``θ_t = f_t ⊙ θ_{t−1} − i_t ⊙ ∇_t``, for rows of coordinates.

    The forget bias starts in [4, 6] (``f ≈ 1``: keep the parameters) and the input bias in [−5, −4]
    (``i ≈ 0.01``: a small step), as Ravi & Larochelle initialise them.
    """

    def __init__(self, hidden: int = 20) -> None:
        super().__init__()
        self.forget = nn.Linear(hidden + 2, 1)
        self.input = nn.Linear(hidden + 2, 1)
        for gate in (self.forget, self.input):
            nn.init.uniform_(gate.weight, -0.01, 0.01)
        nn.init.uniform_(self.forget.bias, 4.0, 6.0)
        nn.init.uniform_(self.input.bias, -5.0, -4.0)

    def forward(self, h: torch.Tensor, grad: torch.Tensor, theta: torch.Tensor, f_prev: torch.Tensor,
                i_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = torch.sigmoid(self.forget(torch.cat([h, theta[:, None], f_prev[:, None]], 1))).squeeze(1)
        i = torch.sigmoid(self.input(torch.cat([h, theta[:, None], i_prev[:, None]], 1))).squeeze(1)
        return f * theta - i * grad, f, i


class LSTMMetaLearner(MAML):
    """A learner whose inner loop is an LSTM: learned initialisation, learned update rule.

    Args:
        model: the learner network; its parameters are the learned initial cell state ``θ_0``.
        inner_steps: updates per task (>= 1).
        hidden: units of the LSTM that reads gradients and losses (20 in the paper).
        loss, check_finite, task_chunk: as for :class:`MAML`.

    Train ``meta.parameters()`` (learner initialisation, LSTM, gates) on :meth:`loss`; the paper
    uses Adam and clips gradient norms at 0.25.
    """

    def __init__(self, model: nn.Module, inner_steps: int = 5, hidden: int = 20, loss: Loss = F.cross_entropy,
                 check_finite: bool = True, task_chunk: int | None = None) -> None:
        super().__init__(model, inner_lr=1.0, inner_steps=inner_steps, first_order=True, loss=loss,
                         check_finite=check_finite, task_chunk=task_chunk)
        self.inner_lr = None  # the step sizes are the input gates
        self.lstm = nn.LSTMCell(4, hidden)
        self.cell = MetaLSTMCell(hidden)

    def step_sizes(self):  # pragma: no cover - not used: adapt() is overridden
        raise NotImplementedError("the LSTM meta-learner's step sizes are its input gates")

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None,
              first_order: bool | None = None) -> Params:
        """Each task's parameters after ``steps`` updates of the meta-learner, ``{name: [B, ...]}``."""
        check_task_batch(support_x, support_y)
        steps = self.inner_steps if steps is None else check_steps(steps, "steps", minimum=0)
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        names, shapes = [n for n, _ in named], [p.shape for _, p in named]
        sizes = [p.numel() for _, p in named]
        B, P = support_x.shape[0], sum(sizes)

        def unflatten(flat: torch.Tensor) -> Params:  # [B, P] -> {name: [B, ...]}
            return {n: part.view(B, *s) for n, s, part in zip(names, shapes, flat.split(sizes, dim=1))}

        theta = torch.cat([p.flatten() for _, p in named]).expand(B, P).reshape(B * P)
        f = torch.zeros_like(theta)
        i = torch.zeros_like(theta)
        state = None
        history = []
        for _ in range(steps):
            at = theta.detach().view(B, P).requires_grad_()
            losses = self.task_losses(unflatten(at), support_x, support_y)
            (grad,) = torch.autograd.grad(losses.sum(), [at])
            grad = grad.reshape(B * P)
            loss_in = losses.detach().repeat_interleave(P)
            state = self.lstm(torch.cat([preprocess(grad), preprocess(loss_in)], 1), state)
            theta, f, i = self.cell(state[0], grad, theta, f, i)
            history.append(losses.detach())
        if self.check_finite and history:
            check_finite_losses(torch.stack(history))
        return unflatten(theta.view(B, P))
