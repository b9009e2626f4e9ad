"""metalib.data.moons: the two moons, centred, and rotated exactly."""
import math

import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

from metalib.data.moons import CENTRE, rotated_moons


def test_unrotated_moons_are_scikit_learns_centred():
    x, y = rotated_moons(200, 0.0, noise=0.1, seed=4)
    theirs, labels = make_moons(200, noise=0.1, random_state=4)
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (200, 2)
    assert np.allclose(x.numpy(), theirs - np.array(CENTRE), atol=1e-6) and np.array_equal(y.numpy(), labels)
    assert torch.bincount(y).tolist() == [100, 100]


@pytest.mark.parametrize("angle", [20.0, 35.0, -90.0])
def test_rotation_turns_every_point_by_the_angle_about_the_centre(angle):
    x0, y0 = rotated_moons(50, 0.0, seed=1)
    x, y = rotated_moons(50, angle, seed=1)
    assert torch.equal(y, y0)
    assert torch.allclose(x.norm(dim=1), x0.norm(dim=1), atol=1e-5)
    turned = torch.atan2(x[:, 1], x[:, 0]) - torch.atan2(x0[:, 1], x0[:, 0])
    turned = torch.remainder(turned + math.pi, 2 * math.pi) - math.pi
    assert torch.allclose(turned, torch.full_like(turned, math.radians(angle)), atol=1e-4)   # counter-clockwise


@pytest.mark.parametrize("call, words", [(lambda: rotated_moons(1), "n must be an integer >= 2"),
                                         (lambda: rotated_moons(10, noise=-0.1), "noise must be >= 0")])
def test_bad_arguments_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()
