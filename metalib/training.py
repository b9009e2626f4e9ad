"""A training loop that every chapter shares: progress bar, loss history, and a loud stop on NaN.

Meta-training is "for each step: sample a batch of tasks, compute a loss, take an optimiser step".
What differs between algorithms is the body of the step; :func:`train` runs that body, shows a
progress bar (:mod:`metalib.progress`: a widget in Jupyter that leaves a line of text behind, tqdm's
text bar in a terminal), keeps every loss, and stops with an error that names the step when a loss
becomes NaN or infinite.

Losses are kept on their device and copied to the host every ``check_every`` steps, so a GPU run is
not forced to synchronise with the host at every step just to draw the progress bar.
"""
from __future__ import annotations

import os
from typing import Callable

import torch

from .progress import Progress


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite during training."""


def progress_enabled() -> bool:
    """Progress bars are on unless ``METALIB_PROGRESS=0``."""
    return os.environ.get("METALIB_PROGRESS", "1").strip() not in ("0", "false", "no", "off")


def train(step: Callable[[int], torch.Tensor | float], steps: int, *, desc: str = "training",
          check_every: int = 25, progress: bool | None = None) -> list[float]:
    """Call ``step(i)`` for ``i = 0 .. steps-1`` and return the losses it returned, as floats.

    Args:
        step: one optimisation step; returns the (scalar) loss it minimised. Return ``loss.detach()``
            or the loss itself: it is only read, never differentiated.
        steps: how many steps to run.
        desc: the progress bar's label.
        check_every: how often losses are copied to the host and checked for NaN / inf.
        progress: show a progress bar (default: on unless ``METALIB_PROGRESS=0``).

    Raises:
        NonFiniteLossError: a loss was NaN or infinite; the message names the first such step.

    Example:
        >>> losses = train(lambda i: one_meta_step(), steps=500, desc="MAML")   # doctest: +SKIP
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if check_every < 1:
        raise ValueError(f"check_every must be >= 1, got {check_every}")
    history: list[float] = []
    pending: list[torch.Tensor] = []
    show = progress_enabled() if progress is None else progress
    bar = Progress(steps, desc, show)

    def flush() -> None:
        if not pending:
            return
        values = torch.stack([p.reshape(()) for p in pending]).double().cpu()
        first = len(history)
        bad = (~torch.isfinite(values)).nonzero()
        history.extend(values.tolist())
        pending.clear()
        if len(bad):
            i = first + int(bad[0])
            raise NonFiniteLossError(
                f"{desc}: the loss became {history[i]} at step {i} (of {steps}); the last finite "
                f"losses were {[round(v, 4) for v in history[max(0, i - 3):i]]}. Lower the learning "
                f"rate, check the data for NaNs, or clip gradients.")
        bar.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)

    try:
        for i in range(steps):
            loss = step(i)
            pending.append(loss.detach() if isinstance(loss, torch.Tensor) else torch.tensor(float(loss)))
            if len(pending) >= check_every or i == steps - 1:
                flush()
            bar.update(1)
    finally:
        bar.close()
    return history
