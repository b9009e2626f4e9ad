"""How much memory an autograd graph holds: the check behind "first-order MAML does not grow with steps"."""
from __future__ import annotations

import weakref
from typing import Any, Callable

import torch


def graph_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()`` and return its result with the bytes of the tensors autograd saved during the call
    that are still alive when it returns: the graph kept for a later backward pass.

    Tensors sharing storage are counted once. Works on every device (it counts storages, not
    allocator statistics), so it measures the graph, not the allocator's caching.
    """
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append((weakref.ref(t), t.untyped_storage().nbytes()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    seen, total = set(), 0
    for ref, nbytes in saved:
        t = ref()
        if t is not None and t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            total += nbytes
    return out, total
