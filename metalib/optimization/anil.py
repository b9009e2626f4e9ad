"""ANIL, "almost no inner loop" (Raghu, Raghu, Bengio & Vinyals, 2020): MAML that adapts only the head.

The network is split into a feature extractor ``φ`` and a linear head ``w``. The inner loop changes
the head alone,

.. math::  w'_b = w − α ∇_w L^{support}_b(w, φ), \\qquad
           \\min_{w, φ} \\; \\frac{1}{B} \\sum_b L^{query}_b(w'_b, φ),

and the outer loop learns both. Raghu et al. found it matches MAML's accuracy: MAML's inner loop
mostly reuses features rather than changing them. It is also much cheaper: the features of every
task are computed **once** with the shared ``φ`` (one ordinary convolution over all tasks' images,
batch statistics per task), and the inner steps only touch the head's matrix products.

References:
    Raghu, Raghu, Bengio & Vinyals (2020), "Rapid Learning or Feature Reuse? Towards Understanding
    the Effectiveness of MAML", ICLR.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .inner import Params, batched_call, check_task_batch, gradient_steps, check_steps
from .maml import MAML, Loss


class ANIL(MAML):
    """MAML with the inner loop on the head only.

    Args:
        features: the feature extractor ``φ`` (``[M, ...] -> [M, D]``), meta-learned in the outer loop only.
        head: the part adapted per task (usually ``nn.Linear(D, n_way)``).
        inner_lr, inner_steps, first_order, loss, check_finite, task_chunk: as for :class:`MAML`.

    The network is ``head(features(x))``; its parameters are named ``features.*`` and ``head.*``.
    A :class:`metalib.backbones.Conv4Classifier` splits this way: ``ANIL(net.features, net.head)``.
    """

    def __init__(self, features: nn.Module, head: nn.Module, inner_lr: float = 0.4, inner_steps: int = 1,
                 first_order: bool = False, loss: Loss = F.cross_entropy, check_finite: bool = True,
                 task_chunk: int | None = None) -> None:
        super().__init__(nn.Sequential(OrderedDict(features=features, head=head)), inner_lr, inner_steps,
                         first_order, loss, check_finite, task_chunk)

    def adapted_names(self) -> list[str]:
        return [n for n, p in self.model.named_parameters() if n.startswith("head.") and p.requires_grad]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``φ(x)`` for each task ``[B, M, ...] -> [B, M, D]``, shared parameters, batch statistics per task."""
        params = {n: p for n, p in self.model.features.named_parameters()}
        return batched_call(self.model.features, params, x, batched=set())

    def _head_losses(self, params: Params, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = batched_call(self.model.head, {n.removeprefix("head."): w for n, w in params.items()}, z)
        return torch.func.vmap(self.criterion)(out, y)

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None,
              first_order: bool | None = None) -> Params:
        check_task_batch(support_x, support_y)
        steps = self.inner_steps if steps is None else check_steps(steps, "steps", minimum=0)
        first_order = self.first_order if first_order is None else first_order
        z = self.features(support_x)
        params = dict(self.model.named_parameters())
        B = support_x.shape[0]
        fast = {n: params[n].expand(B, *params[n].shape) for n in self.adapted_names()}
        return gradient_steps(self._head_losses, fast, z, support_y, steps, self.step_sizes(), first_order,
                              self.check_finite)

    def predict(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        head = {n.removeprefix("head."): w for n, w in params.items()}
        batched = set(head)
        head.update({n: p for n, p in self.model.head.named_parameters() if n not in batched})
        return batched_call(self.model.head, head, z, batched=batched)
