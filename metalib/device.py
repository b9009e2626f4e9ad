"""Where tensors live, and how a run is made repeatable.

:func:`get_device` picks CUDA when a GPU is present and the CPU otherwise; the environment variable
``METALIB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides the choice for every notebook
and script at once. :func:`seed_everything` seeds Python, NumPy and PyTorch and asks PyTorch for
deterministic kernels, so that a CPU run gives the same numbers every time.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def get_device(name: str | None = None) -> torch.device:
    """The device for this run: ``name``, else ``$METALIB_DEVICE``, else CUDA when present, else CPU.

    Raises:
        ValueError: the name is not a device PyTorch knows.
        RuntimeError: the device is named but not present on this machine, or ``torchrun`` started
            several processes for a script that does not split its work over them.
    """
    from .distributed import launched

    world = launched()
    if world > 1 and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise RuntimeError(f"torchrun started {world} processes, but this script does not split its work over "
                           f"them (each would run all of it); run it with python, or launch a script that "
                           f"calls metalib.distributed.setup() (README, 'Full runs')")
    name = name or os.environ.get("METALIB_DEVICE", "").strip()
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"METALIB_DEVICE={name!r} is not a device PyTorch knows; "
                         f"use 'cpu', 'cuda', 'cuda:1' or 'mps'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"METALIB_DEVICE={name!r} asks for a GPU but PyTorch sees none on this "
                               f"machine; unset METALIB_DEVICE or set it to 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"METALIB_DEVICE={name!r}: this machine has {torch.cuda.device_count()} "
                               f"GPU(s), numbered from 0")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"METALIB_DEVICE={name!r}: Apple's MPS backend is not available here; use 'cpu'")
    return device


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (every device) with ``seed``.

    With ``deterministic`` PyTorch also uses deterministic algorithms where it has them (warning,
    not failing, where it has none), so a CPU run repeats exactly on the same machine and thread
    count. GPU runs repeat up to the order of floating-point sums in some kernels.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
