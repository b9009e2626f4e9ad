"""Two moons, and the same moons rotated: a 2-D domain shift small enough to draw.

The source domain is scikit-learn's two interleaving half circles (``make_moons``), centred on the
origin; the target domain is a fresh sample of the same moons rotated about the origin by
``angle`` degrees. A classifier trained on the source draws its boundary between the unrotated
moons; at 30 to 40 degrees the rotated moons' tips lie on its wrong side, so its target accuracy
falls, while the classes stay separated by a margin a rotated boundary could use. That is the
picture adaptation methods are drawn with (e.g. Ganin et al., 2016, Fig. 2, with 35 degrees).
"""
from __future__ import annotations

import math

import torch

CENTRE = (0.5, 0.25)
"""The centre of ``make_moons``' two half circles (they span x in [-1, 2], y in [-0.5, 1])."""


def rotated_moons(n: int = 400, angle: float = 0.0, noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of the two moons, centred and rotated by ``angle`` degrees.

    Returns:
        ``x`` float32 ``[n, 2]`` and labels ``y`` int64 ``[n]`` (half of each class; the moon a
        point belongs to).
    """
    from sklearn.datasets import make_moons

    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (points in both moons), got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0 (the standard deviation of the Gaussian jitter), got {noise!r}")
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = torch.tensor(x, dtype=torch.float64) - torch.tensor(CENTRE, dtype=torch.float64)
    a = math.radians(angle)
    rotation = torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=torch.float64)
    return (x @ rotation).float(), torch.as_tensor(y, dtype=torch.int64)
