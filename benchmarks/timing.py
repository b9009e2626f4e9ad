"""Wall-clock timing shared by the benchmark scripts: synchronise a CUDA device only around a timed loop."""
from __future__ import annotations

import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step()``, synchronising only before and after the loop."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - start
