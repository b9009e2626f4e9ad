"""Data sets of the course, each loaded by name with :func:`load`.

======================  ==========================================================================
name                    what it is
======================  ==========================================================================
``"glyphs"``            characters of many scripts rendered from matplotlib's fonts and distorted
                        like handwriting, grouped into alphabets like Omniglot (the chapters' default)
``"omniglot"``          Omniglot, official background (30 alphabets) and evaluation (20) archives
``"omniglot-minimal"``  Omniglot's two minimal background archives (8 alphabets, 242 characters)
``"digits"``            scikit-learn's real handwritten digits (8x8)
``"font-digits"``       digits rendered from fonts, the source domain for domain adaptation
======================  ==========================================================================

Switching a chapter from the embedded glyphs to real Omniglot is one line::

    data = metalib.data.load("glyphs")      # or: metalib.data.load("omniglot")
    train, val, test = data.split()

Sinusoid regression tasks, which are functions rather than images, are in :mod:`metalib.data.sinusoid`;
the two moons of chapter 6's toy shift in :mod:`metalib.data.moons`.
"""
from __future__ import annotations

from .base import FewShotDataset, Splits
from .paths import cache_dir, data_dir


def _loaders():
    from . import digits, glyphs, omniglot

    return {
        "glyphs": glyphs.load_glyphs,
        "omniglot": omniglot.load_omniglot,
        "omniglot-minimal": omniglot.load_omniglot_minimal,
        "digits": digits.load_digits,
        "font-digits": digits.load_font_digits,
    }


NAMES = ("glyphs", "omniglot", "omniglot-minimal", "digits", "font-digits")


def load(name: str, **options) -> FewShotDataset:
    """Load the data set called ``name`` (see the table above); ``options`` go to its loader."""
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; the names metalib knows are: {', '.join(NAMES)}")
    return _loaders()[name](**options)


__all__ = ["FewShotDataset", "Splits", "load", "NAMES", "cache_dir", "data_dir"]
