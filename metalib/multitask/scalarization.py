"""Fixed ways to turn ``T`` task losses into one: equal weighting and the sum of log losses.

- **Equal weighting** (unitary scalarization): ``L = Σ_i L_i``. Its gradient is ``Σ_i ∇L_i``, so a task
  whose loss is measured in larger units (metres instead of kilometres: ``c L_i``) gets ``c`` times
  the say. Xin et al. (2022) and Kurin et al. (2022) found that, tuned as carefully as the rest,
  it matches the specialised methods on the usual benchmarks.
- **Sum of log losses**: ``L = Σ_i log L_i``, whose gradient ``Σ_i ∇L_i / L_i`` divides every task's
  gradient by its current loss. Multiplying ``L_i`` by ``c`` adds ``log c`` to ``L`` and leaves the
  gradient unchanged: the method cannot see units. (It is the uncertainty weighting below with the
  log-variances at their optimum, and appears as "geometric loss strategy" in Chennupati et al.,
  2019, and in Liu et al.'s FAMO and Navon et al.'s Nash-MTL as a baseline.)

References:
    Xin, Ghorbani, Gilmer, Garg & Firat (2022), "Do Current Multi-Task Optimization Methods in Deep
    Learning Even Help?", NeurIPS.
    Kurin, De Palma, Kostrikov, Whiteson & Kumar (2022), "In Defense of the Unitary Scalarization
    for Deep Multi-Task Learning", NeurIPS.
"""
from __future__ import annotations

import torch


def check_losses(losses: torch.Tensor, positive: bool = False) -> torch.Tensor:
    if not isinstance(losses, torch.Tensor) or losses.dim() != 1 or losses.numel() == 0:
        raise ValueError(f"expected the task losses as a vector [T], got "
                         f"{tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__}; "
                         f"stack them with torch.stack([loss_1, ..., loss_T])")
    if positive and bool((losses.detach() <= 0).any()):
        raise ValueError(f"the log of a loss needs every loss > 0, got {losses.detach().tolist()}; add a "
                         f"small constant to a loss that can reach zero")
    return losses


def equal_weighting(losses: torch.Tensor) -> torch.Tensor:
    """``Σ_i L_i``."""
    return check_losses(losses).sum()


def log_sum(losses: torch.Tensor) -> torch.Tensor:
    """``Σ_i log L_i``; every loss must be positive."""
    return torch.log(check_losses(losses, positive=True)).sum()
