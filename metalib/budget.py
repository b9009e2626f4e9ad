"""Two budgets for every notebook: ``default`` and ``full``.

- ``default``: each notebook runs on 2 CPU cores in a few minutes and still shows learning. This is
  what CI and a reader's laptop run.
- ``full``: paper-scale runs (more meta-training steps, 600 test episodes, larger models), meant for
  a GPU. Chosen with the environment variable ``METALIB_BUDGET=full``.

A notebook states both sizes side by side, so a reader sees what the full run would do::

    steps = metalib.budget.pick(default=300, full=60_000)
"""
from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")
BUDGETS = ("default", "full")


def name() -> str:
    """The budget this process runs at: ``$METALIB_BUDGET``, or ``"default"`` when unset."""
    value = os.environ.get("METALIB_BUDGET", "").strip().lower() or "default"
    if value not in BUDGETS:
        raise ValueError(f"METALIB_BUDGET={value!r} is not a budget; use one of {', '.join(BUDGETS)}")
    return value


def pick(default: T, full: T) -> T:
    """``full`` under the full budget, ``default`` otherwise."""
    return full if name() == "full" else default


def is_full() -> bool:
    return name() == "full"
