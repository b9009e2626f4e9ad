"""Splitting tasks into groups trained together, from an affinity matrix (Fifty et al., 2021).

Given the affinity ``Z[i, j]`` (how much task ``i``'s updates help task ``j``; see
:mod:`metalib.multitask.tag`), a split of the tasks into disjoint groups scores the mean affinity
each task receives from the other members of its group,

.. math::  \\text{score} = \\sum_{G} \\sum_{j ∈ G} \\frac{1}{|G| − 1} \\sum_{i ∈ G, i ≠ j} Z_{i→j},

(a task alone in its group receives 0). :func:`best_grouping` tries every split into ``k`` groups
(the Stirling number ``S(T, k)``: 7 for ``T = 4, k = 2``, 3,025 for ``T = 8, k = 3``) and returns
the best. TAG itself also allows a task in several groups and picks groups under a compute
budget; the disjoint split is the case this chapter needs.
"""
from __future__ import annotations

from typing import Iterator

import torch


def partitions(items: list[int], k: int) -> Iterator[list[list[int]]]:
    """Every split of ``items`` into exactly ``k`` non-empty groups, each group in increasing order."""
    if k == 1:
        yield [list(items)]
        return
    if len(items) == k:
        yield [[i] for i in items]
        return
    if len(items) < k or k < 1:
        return
    first, rest = items[0], items[1:]
    for split in partitions(rest, k - 1):  # first alone
        yield [[first], *split]
    for split in partitions(rest, k):  # first joins one of the groups
        for g in range(k):
            yield [sorted([first, *group]) if i == g else group for i, group in enumerate(split)]


def grouping_score(affinity: torch.Tensor, groups: list[list[int]]) -> float:
    total = 0.0
    for group in groups:
        if len(group) < 2:
            continue
        block = affinity[group][:, group]
        received = block.sum(0) - block.diagonal()
        total += float(received.sum()) / (len(group) - 1)
    return total


def best_grouping(affinity: torch.Tensor, k: int) -> tuple[list[list[int]], float]:
    """The split of the ``T`` tasks into ``k`` groups with the highest score, and that score."""
    if affinity.dim() != 2 or affinity.shape[0] != affinity.shape[1]:
        raise ValueError(f"affinity must be a square matrix [T, T], got {tuple(affinity.shape)}")
    t = affinity.shape[0]
    if not 1 <= k <= t:
        raise ValueError(f"k must be between 1 and the number of tasks ({t}), got {k!r}")
    if t > 10:
        raise ValueError(f"best_grouping tries every split; {t} tasks are too many (at most 10)")
    affinity = affinity.detach().double().cpu()
    best = max(partitions(list(range(t)), k), key=lambda g: grouping_score(affinity, g))
    return sorted(best), grouping_score(affinity, best)
