"""The Gram matrix ``G = J Jᵀ`` of the task gradients of a trunk of linear layers, without forming ``J``.

Every gradient-combination method of this package returns an update of the form ``d = Jᵀ w`` whose
weights ``w`` depend on the task gradients only through their inner products ``G = J Jᵀ``
(PCGrad, MGDA, IMTL-G, CAGrad; torchjd calls them *Gramian-weighted*). So ``J`` itself, ``T`` rows
as long as the trunk has parameters, is never needed:

1. For a linear layer ``o = a Wᵀ + b`` on a batch, task ``t``'s gradient is ``∇_W L_t = Δ_tᵀ a``
   and ``∇_b L_t = Δ_tᵀ 1``, where ``Δ_t = ∂L_t/∂o`` ``[B, out]``. Their inner products are

   .. math::  ⟨∇_W L_s, ∇_W L_t⟩ = \\sum_{b, b'} (a aᵀ)_{b b'}\\, (Δ_s Δ_tᵀ)_{b b'},
              \\qquad ⟨∇_b L_s, ∇_b L_t⟩ = (1ᵀ Δ_s)(Δ_tᵀ 1),

   which cost ``B² (in + T out)`` instead of the ``T · B · in · out`` of ``T`` weight gradients.
   The bias term is the weight term with ``a = 1``, so the layer adds one sum with the kernel
   ``a aᵀ + 1 1ᵀ``.
2. Each task's gradient at the trunk's output, ``∂L_t/∂z``, comes from one ordinary backward pass
   through the heads (every head reads its own view of ``z``, so the gradients arrive apart; the
   heads' parameter gradients come with them). The ``Δ_t`` of every linear layer then come from
   **one** backward pass through the trunk batched over the ``T`` tasks (``is_grads_batched``),
   which computes no weight gradient of the trunk at all, and nothing for the first layer's input.
3. With ``w`` chosen from ``G``, the trunk's update ``Jᵀ w`` is, layer by layer,
   ``(Σ_t w_t Δ_t)ᵀ a`` and ``(Σ_t w_t Δ_t)ᵀ 1``: one matrix product per layer from what step 2 kept,
   the weight-gradient half of an ordinary backward pass without its other half.

:class:`LinearGramian` records what it needs with forward hooks; the trunk may hold linear layers
and parameter-free modules (activations, flatten, dropout), nothing else with parameters.
``benchmarks/multitask_speed.py`` measures what this saves.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class LinearGramian:
    """Forward hooks on ``trunk`` and the ``heads`` that make :meth:`gramian` possible after each forward.

    Every head must read the trunk's output (``heads[t](trunk(x))``, as in :class:`HardSharing`).
    """

    def __init__(self, trunk: nn.Module, heads: Sequence[nn.Module]) -> None:
        self.layers = [m for m in trunk.modules() if isinstance(m, nn.Linear)]
        owned = {id(p) for layer in self.layers for p in layer.parameters()}
        others = [name for name, p in trunk.named_parameters() if id(p) not in owned]
        if not self.layers or others:
            raise ValueError(f"LinearGramian needs a trunk whose parameters all belong to nn.Linear layers; "
                             f"{'it has none' if not self.layers else 'these do not: ' + ', '.join(others)}. "
                             f"Use the Jacobian (MultiTaskStep without trunk=...) for other trunks")
        self.trunk = trunk
        self._records: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._deltas: list[torch.Tensor] = []
        self.features: torch.Tensor | None = None
        self._handles = [trunk.register_forward_pre_hook(self._start)]
        self._handles += [layer.register_forward_hook(self._record) for layer in self.layers]
        self._handles.append(trunk.register_forward_hook(self._finish))
        self.heads = list(heads)
        self._head_inputs: list[torch.Tensor] = []
        self._handles += [head.register_forward_pre_hook(self._split) for head in self.heads]

    def _start(self, module, args) -> None:
        self._records, self.features, self._head_inputs, self._deltas = [], None, [], []

    def _split(self, module, args):
        if torch.is_grad_enabled() and self.features is not None and args[0] is self.features:
            view = args[0].view_as(args[0])  # its own node in the graph: its gradient arrives apart
            self._head_inputs.append(view)
            return (view, *args[1:])
        return None

    def _record(self, module, args, output) -> None:
        if torch.is_grad_enabled():
            self._records.append((args[0].detach(), output))

    def _finish(self, module, args, output) -> None:
        if torch.is_grad_enabled():
            self.features = output

    def remove(self) -> None:
        for h in self._handles:
            h.remove()

    def gramian(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``(G [T, T], dz [T, *z.shape], head_grads)`` from the last forward pass.

        ``dz[t] = ∂L_t/∂z`` at the trunk's output ``z``; ``head_grads`` are the gradients of the
        heads' parameters (each head's from its own task). What :meth:`backward` needs is kept.
        """
        t = losses.numel()
        if self.features is None or len(self._records) != len(self.layers):
            raise RuntimeError("run the trunk forward (with gradients enabled) before asking for the Gramian")
        if len(self._head_inputs) != t or t != len(self.heads):
            raise RuntimeError(f"expected each of the {len(self.heads)} heads to read the trunk's output once "
                               f"and one loss per head; got {len(self._head_inputs)} head calls and {t} losses")
        head_params = [p for head in self.heads for p in head.parameters()]
        grads = torch.autograd.grad(losses.sum(), [*self._head_inputs, *head_params], retain_graph=True,
                                    allow_unused=True, materialize_grads=True)
        dz, head_grads = torch.stack(grads[:t]), list(grads[t:])
        outputs = [o for _, o in self._records]
        deltas = torch.autograd.grad(self.features, outputs, grad_outputs=dz, is_grads_batched=True,
                                     retain_graph=True, allow_unused=True, materialize_grads=True)
        gram = losses.new_zeros(t, t)
        self._deltas = []
        for (a, _), delta, layer in zip(self._records, deltas, self.layers):
            a = a.reshape(-1, a.shape[-1])
            delta = delta.reshape(t, -1, delta.shape[-1])
            self._deltas.append(delta)
            kernel = a @ a.T
            if layer.bias is not None:  # the bias's input is 1: (1ᵀ Δ_s)(Δ_tᵀ 1) joins as a aᵀ + 1 1ᵀ
                kernel += 1
            mixed = torch.matmul(kernel, delta)  # [T, B, out]: (a aᵀ + 1 1ᵀ) Δ_t
            gram = gram + delta.flatten(1) @ mixed.flatten(1).T    # Σ_{b,o} Δ_s (a aᵀ + 1 1ᵀ) Δ_t
        return gram, dz, head_grads

    def backward(self, weights: torch.Tensor, dz: torch.Tensor | None = None) -> None:
        """Accumulate ``Jᵀ w`` into the trunk's ``.grad``: ``(Σ_t w_t Δ_t)ᵀ a`` per layer, from the
        ``Δ_t`` of the last :meth:`gramian` (``dz`` is not needed; it is accepted for symmetry)."""
        if len(self._deltas) != len(self.layers):
            raise RuntimeError("call gramian(losses) after the forward pass, before backward(weights)")
        for (a, _), delta, layer in zip(self._records, self._deltas, self.layers):
            mixed = (weights.to(delta.dtype) @ delta.flatten(1)).view(delta.shape[1:])  # [B, out]: Σ_t w_t Δ_t
            updates = [(layer.weight, mixed.T @ a.reshape(-1, a.shape[-1]))]
            if layer.bias is not None:
                updates.append((layer.bias, mixed.sum(0)))
            for p, g in updates:
                p.grad = g if p.grad is None else p.grad + g
        self._deltas = []
