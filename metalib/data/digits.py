"""Handwritten digits and font-rendered digits: a pair of domains for domain adaptation.

``load_digits``
    scikit-learn's copy of the test part of the UCI "Optical Recognition of Handwritten Digits" set
    (Alpaydin and Kaynak, 1998, "Cascading classifiers", Kybernetika 34(4);
    ``sklearn.datasets.load_digits``, bundled with scikit-learn, no download): 1,797 digits written
    on forms by 13 people, extracted as size-normalised 32x32 bitmaps by NIST's programs and reduced
    to 8x8 by counting the inked pixels of each 4x4 block, so every pixel is one of 17 gray levels
    0..16.

``load_font_digits``
    The same ten classes drawn from matplotlib's fonts by :mod:`metalib.data.glyphs`' simulated
    drawers (each drawing a face, a pen width, a size, position, rotation, shear and a smooth
    distortion), then put through the same pipeline as the scanned set: size-normalised on a
    32x32 canvas so that the digit is as tall as the canvas, and reduced to 8x8 by counting the ink
    in each 4x4 block. The two sets share label space, resolution and gray levels but not the hand:
    a classifier trained on font digits does far worse on the real ones than on held-out font
    digits (``tests/test_digits.py`` measures it), the gap domain adaptation has to close.

Both come as :class:`~metalib.data.FewShotDataset` (classes ``"0"`` .. ``"9"``, one group
``"digits"``; ink = 255 from the 17 levels ``round(255 * k / 16)``), so the same samplers and the
same :meth:`FewShotDataset.examples` serve both. With ``size`` other than 8 both are enlarged by
the same bilinear interpolation of the 8x8 images, so they stay a matched pair.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import FewShotDataset
from .glyphs import GlyphStyle, _check_int, render_characters

DIGITS = tuple("0123456789")
"""The class names, in label order."""

NATIVE_SIZE = 8
"""Side of the scanned set's images: 32x32 bitmaps counted in 4x4 blocks."""

MAX_SIZE = 64
"""The largest side the digits are enlarged to (eight times their own: beyond that nothing is gained)."""

FONT_DIGIT_STYLE = GlyphStyle(canvas=32, box=0.80, box_spread=0.04, aspect=0.10, shear=0.12, rotation=7.0,
                              shift=0.015, bend=0.08, tremor=0.01, pen_radius=2, pen_spread=1, fit=True)
"""The drawers of :func:`load_font_digits`, on the 32x32 canvas of the scanned set.

``fit`` size-normalises every drawing like the scanning pipeline did: the digit's skeleton spans
about 26 pixels and the pen, 3, 5 or 7 pixels wide (a weight per drawing), adds 2 to 6 more, so
the digit fills the canvas top to bottom as the scanned ones do. The mean ink of the 8x8 images is
then 5.5 of 16 against the scanned set's 4.9."""


def _levels(counts: torch.Tensor) -> torch.Tensor:
    """Ink counts 0..16 -> uint8 0..255 (``round(255 * k / 16)``), the scale shared by both sets."""
    return (counts.float() * (255 / 16)).round_().to(torch.uint8)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[..., 8, 8]`` -> uint8 ``[..., size, size]`` by bilinear interpolation (unchanged for 8)."""
    if size == NATIVE_SIZE:
        return images
    shape = images.shape[:-2]
    x = images.reshape(-1, 1, NATIVE_SIZE, NATIVE_SIZE).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8).view(*shape, size, size)


def _check_size(size: int) -> int:
    return _check_int("size", size, NATIVE_SIZE, MAX_SIZE,
                      f"; the digits are 8x8 (size=8, the default) and may be enlarged up to {MAX_SIZE}, "
                      f"e.g. size=28 for a network built for Omniglot's resolution")


def load_digits(size: int = NATIVE_SIZE) -> FewShotDataset:
    """scikit-learn's 1,797 real handwritten digits, as a :class:`FewShotDataset` of ten classes.

    Classes hold 174 to 183 examples; ``counts`` says how many, and the images tensor is padded to
    the largest class with blank images that samplers never read. Examples keep scikit-learn's order.
    All ten classes form one group, ``"digits"``. Domain adaptation trains and tests on the same ten
    classes, so the digits are divided by *examples*, not by classes: take ``x, y = data.examples()``
    and split those (e.g. ``sklearn.model_selection.train_test_split(x, y, stratify=y)``), or train on
    :func:`load_font_digits` and test here. :meth:`FewShotDataset.split` never cuts a group, so it
    raises a ValueError whenever two or three fractions are non-zero, also for the
    ``fractions=(0.8, 0, 0.2)`` its message suggests.

    Args:
        size: side of the images, 8 (the scanned set's own) to 64 (enlarged by bilinear interpolation).

    Returns:
        ``FewShotDataset`` named ``"digits"``: uint8 ``[10, 183, size, size]``, ink = 255.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    size = _check_size(size)
    bunch = sklearn_digits()
    values = torch.from_numpy(bunch.images.astype(np.int64))  # [1797, 8, 8], 0..16
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    counts = torch.bincount(labels, minlength=len(DIGITS))
    order = torch.argsort(labels, stable=True)  # class by class, scikit-learn's order within a class
    rank = torch.arange(labels.numel()) - (torch.cumsum(counts, 0) - counts)[labels[order]]
    images = torch.zeros(len(DIGITS), int(counts.max()), NATIVE_SIZE, NATIVE_SIZE, dtype=torch.uint8)
    images[labels[order], rank] = _levels(values[order])
    return FewShotDataset.from_tensor("digits", _resize(images, size), groups=["digits"] * len(DIGITS),
                                      class_names=DIGITS, counts=counts)


def load_font_digits(size: int = NATIVE_SIZE, examples_per_class: int = 180, seed: int = 0) -> FewShotDataset:
    """Digits 0-9 drawn from matplotlib's fonts and reduced to the scanned set's 8x8 gray levels.

    Every drawing picks one of the 8 faces of :data:`metalib.data.glyphs.FACE_FILES`, a pen and a
    placement from :data:`FONT_DIGIT_STYLE`, is drawn on a 32x32 canvas and shrunk by 4x4 block
    averaging, which is exactly scikit-learn's ink count per block. Takes about half a second for
    the default 1,800 drawings (a quarter of a second once the process has drawn digits before and
    keeps their skeletons); the same ``seed`` gives the same bytes.

    Args:
        size: side of the images, 8 to 64 (enlarged like :func:`load_digits`).
        examples_per_class: drawings of each digit (scikit-learn's set has about 180).
        seed: seed of the simulated drawers; two seeds give two independent samples of the domain.

    Returns:
        ``FewShotDataset`` named ``"font-digits"``: uint8 ``[10, examples_per_class, size, size]``.
    """
    size = _check_size(size)
    examples_per_class = _check_int("examples_per_class", examples_per_class, 1)
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1)
    # area averaging 4x4 blocks of 0/1 pixels gives round(255 * k / 16) for k inked pixels: load_digits' levels
    images = render_characters(DIGITS, examples_per_class, size=NATIVE_SIZE, seed=seed, style=FONT_DIGIT_STYLE)
    return FewShotDataset.from_tensor("font-digits", _resize(images, size), groups=["digits"] * len(DIGITS),
                                      class_names=DIGITS)
