"""The Omniglot protocol that experiments/metric_omniglot.py and optimization_omniglot.py share.

The four test settings, the alphabet-disjoint split of the minimal Omniglot set with the papers'
four rotations, the number of test queries per class, and where the archives are found. Both
scripts import it, so their test tasks are the same.
"""
from __future__ import annotations

import os
from pathlib import Path

from metalib.data.omniglot import load_omniglot_minimal

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"5w1s": (5, 1), "5w5s": (5, 5), "20w1s": (20, 1), "20w5s": (20, 5)}   # name: (way, shot)
FRACTIONS = (0.6, 0.0, 0.4)     # train, val, test share of the classes, dealt out by alphabet


def test_queries(way: int) -> int:
    """Queries per class in a test task: 15 in 5-way tasks, 5 in 20-way tasks."""
    return 15 if way <= 5 else 5


def default_data() -> str | None:
    """``$METALIB_DATA``, else the shared Omniglot folder beside the repository, else None (the cache)."""
    if os.environ.get("METALIB_DATA"):
        return os.environ["METALIB_DATA"]
    for folder in (REPO.parent / "shared" / "data" / "omniglot", REPO / "shared" / "data" / "omniglot"):
        if folder.is_dir():
            return str(folder)
    return None


def load_split(folder: str | None):
    """Omniglot minimal with rotations, split by alphabet; returns ``(train, test, description)``."""
    turns = (0, 1, 2, 3)
    data = load_omniglot_minimal(folder=folder).with_rotations(turns)
    train, val, test = data.split(fractions=FRACTIONS, seed=0)
    parts = {"train": train, "val": val, "test": test}
    description = {"dataset": data.name, "characters": data.num_classes // len(turns),
                   "rotations_degrees": [90 * k for k in turns], "classes": data.num_classes,
                   "fractions": list(FRACTIONS), "split_seed": 0,
                   **{name: {"alphabets": part.alphabets, "classes": part.num_classes,
                             "characters": part.num_classes // len(turns)} for name, part in parts.items()}}
    for name, part in parts.items():
        print(f"{name:5}: {part.num_classes:4} classes ({part.num_classes // len(turns)} characters x "
              f"{len(turns)} rotations) from {', '.join(part.alphabets) or 'no alphabet'}")
    return train, test, description
