"""Several labels for one glyph image: its character, alphabet and how it was drawn.

:func:`glyph_multitask_set` draws a few alphabets of the glyph set with more rotation than usual
and returns each image with the labels the chapter's multi-task network predicts, from
:func:`metalib.data.glyphs.drawing_factors`: the character and the alphabet (classification), the
pen width (3, 5 or 7 pixels: classification) and the rotation (regression, in units of its
standard deviation), and for the speed benchmark also the face, scale, aspect and shear.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from metalib.data.glyphs import GlyphStyle, drawing_factors, glyph_characters, render_characters

STYLE = GlyphStyle(rotation=25.0)
"""The glyphs' style with rotations of 25 degrees (standard deviation) instead of 8, so that the
angle is a task worth predicting."""

TASKS = ("character", "alphabet", "pen", "rotation", "face", "scale", "aspect", "shear")
KINDS = {"character": "classification", "alphabet": "classification", "pen": "classification",
         "face": "classification", "rotation": "regression", "scale": "regression", "aspect": "regression",
         "shear": "regression"}


@dataclass(frozen=True)
class MultiTaskSet:
    """Images ``x [N, 1, H, W]`` (float in [0, 1]) and ``targets[name] [N]``; ``classes[name]`` for each
    classification task (its number of classes)."""

    x: torch.Tensor
    targets: dict[str, torch.Tensor]
    classes: dict[str, int]

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index: torch.Tensor) -> "MultiTaskSet":
        return MultiTaskSet(self.x[index], {k: v[index] for k, v in self.targets.items()}, self.classes)


def glyph_multitask_set(alphabets: int = 4, per_alphabet: int = 10, drawings: int = 40, size: int = 28,
                        seed: int = 0) -> MultiTaskSet:
    """The first ``per_alphabet`` characters of the first ``alphabets`` alphabets, ``drawings`` each."""
    chosen, seen = [], {}
    for c in glyph_characters():
        if c.alphabet not in seen and len(seen) == alphabets:
            continue
        seen.setdefault(c.alphabet, 0)
        if seen[c.alphabet] < per_alphabet:
            seen[c.alphabet] += 1
            chosen.append(c)
    images = render_characters(chosen, drawings, size=size, seed=seed, style=STYLE)
    f = drawing_factors(chosen, drawings, seed=seed, style=STYLE)
    names = list(seen)
    n = len(chosen) * drawings
    character = torch.arange(len(chosen)).repeat_interleave(drawings)
    alphabet = torch.tensor([names.index(c.alphabet) for c in chosen]).repeat_interleave(drawings)
    standard = lambda v: ((v - v.mean()) / v.std()).flatten()  # noqa: E731
    targets = {"character": character, "alphabet": alphabet, "pen": ((f.pen_width - 3) // 2).flatten(),
               "face": f.face.flatten(), "rotation": standard(f.rotation), "scale": standard(f.scale),
               "aspect": standard(f.aspect), "shear": standard(f.shear)}
    classes = {"character": len(chosen), "alphabet": len(names), "pen": 3, "face": 8}
    return MultiTaskSet(images.view(n, 1, size, size).float() / 255, targets, classes)


def head_width(data: MultiTaskSet, task: str) -> int:
    return data.classes.get(task, 1)


def task_losses(outputs: list[torch.Tensor], data: MultiTaskSet, tasks: tuple[str, ...]) -> torch.Tensor:
    """``[T]``: cross-entropy for the classification tasks, mean squared error for the regressions."""
    losses = []
    for out, task in zip(outputs, tasks):
        y = data.targets[task]
        losses.append(F.cross_entropy(out, y) if KINDS[task] == "classification"
                      else F.mse_loss(out.squeeze(-1), y))
    return torch.stack(losses)


def task_metrics(outputs: list[torch.Tensor], data: MultiTaskSet, tasks: tuple[str, ...]) -> list[float]:
    """Accuracy (classification) or mean squared error (regression) per task."""
    out = []
    for o, task in zip(outputs, tasks):
        y = data.targets[task]
        if KINDS[task] == "classification":
            out.append(float((o.argmax(-1) == y).float().mean()))
        else:
            out.append(float(F.mse_loss(o.squeeze(-1), y)))
    return out
