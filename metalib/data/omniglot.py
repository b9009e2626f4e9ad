"""Omniglot, the real thing: 1623 handwritten characters of 50 alphabets, each drawn by 20 people.

Omniglot was collected by Lake, Salakhutdinov and Tenenbaum (2015), "Human-level concept learning
through probabilistic program induction", Science 350(6266), 1332-1338, and is published (MIT licence)
at https://github.com/brendenlake/omniglot as zip archives of 105x105 binary PNGs, black strokes on white:

===============================  ==========  ===========================================================
archive                          characters  alphabets
===============================  ==========  ===========================================================
``images_background.zip``        964         30, the "background" set for learning (Lake et al., 2015)
``images_evaluation.zip``        659         20 others, the "evaluation" set for testing
``images_background_small1.zip`` 136         5 of the background alphabets (the "minimal" split 1)
``images_background_small2.zip`` 156         5 of the background alphabets (split 2; Greek and Latin are
                                             in both, with identical images)
===============================  ==========  ===========================================================

Getting the archives
    Nothing is downloaded unless you ask. Either download the archives yourself and point
    ``METALIB_DATA`` at the folder holding them (or its ``omniglot/`` subfolder, or pass ``folder=``),
    or call a loader once with ``download=True`` to fetch them into metalib's cache. Every archive is
    checked against its published SHA-256 (:mod:`metalib.data.archives`), and read member by member
    with every name checked and every CRC verified; nothing is unpacked to disk.

What a loader returns
    A :class:`~metalib.data.base.FewShotDataset` with one class per character, named
    ``"<Alphabet>/character<NN>"``, grouped by alphabet, examples in drawer order, as uint8 images with
    ink = 255 on 0 (the PNGs are inverted), shrunk from 105x105 to ``size`` by area averaging (so strokes
    become grey at their edges; ``size=105`` keeps the binary originals). The decoded tensors are cached
    per archive and size in ``<METALIB_CACHE>/omniglot/`` (105x105 images as one bit per pixel), so only
    the first load decodes PNGs: about 1.4 s of CPU time for both minimal archives (4840 images), against
    0.04 s for a cached load at 28x28.

Splits
    :meth:`~metalib.data.base.FewShotDataset.split` cuts a set into class- and alphabet-disjoint parts.
    ``load_omniglot("background")``, ``("evaluation")`` and the minimal sets are split by the fractions
    you give, over their alphabets. ``load_omniglot("all")`` (the default) carries the official split of
    Lake et al.: the 30 background alphabets are meta-training; the 20 evaluation alphabets, in
    alphabetical order, go alternately to validation and test (10 alphabets each; this division of the
    evaluation set is metalib's own, the paper has no validation set).

Examples::

    import metalib.data
    data = metalib.data.load("omniglot-minimal")              # with METALIB_DATA set: 242 characters
    data = metalib.data.load("omniglot", download=True)       # all 1623 characters, fetched once
    train, val, test = data.split()                          # background / evaluation alphabets

    from metalib.data.omniglot import load_omniglot_minimal
    small1 = load_omniglot_minimal(which=1, size=105, folder="~/data/omniglot")
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .archives import Archive, CorruptArchiveError, _cache_root, fetch, read_members
from .base import FewShotDataset
from .paths import write_cache_file

BASE_URL = "https://github.com/brendenlake/omniglot/raw/master/python/"

ARCHIVES: dict[str, Archive] = {
    "background": Archive("images_background.zip", BASE_URL + "images_background.zip",
                          "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640", 9464212, "omniglot"),
    "evaluation": Archive("images_evaluation.zip", BASE_URL + "images_evaluation.zip",
                          "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee", 6462886, "omniglot"),
    "small1": Archive("images_background_small1.zip", BASE_URL + "images_background_small1.zip",
                      "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4", 1319022, "omniglot"),
    "small2": Archive("images_background_small2.zip", BASE_URL + "images_background_small2.zip",
                      "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f", 1580917, "omniglot"),
}
"""The official archives by short name, with their published SHA-256 and size."""

SIDE = 105
"""Side of Omniglot's images in pixels."""

CACHE_VERSION = "v1"
"""Changes whenever decoding changes, so that no stale cache is ever read."""

SPLITS = ("background", "evaluation", "all")

_BATCH = 1024
"""Images decoded and shrunk at a time (keeps the float buffer near 45 MB)."""


# ---------------------------------------------------------------------------------------------------
# Decoding one archive
# ---------------------------------------------------------------------------------------------------
def _shrink(ink: np.ndarray, size: int) -> torch.Tensor:
    """uint8 ink images ``[n, 105, 105]`` (0 or 255) -> uint8 ``[n, size, size]`` by area averaging."""
    images = torch.from_numpy(ink)
    if size == SIDE:
        return images
    small = F.interpolate(images[:, None].float(), size=(size, size), mode="area")[:, 0]
    return small.round_().to(torch.uint8)


def decode_archive(path: str | os.PathLike, size: int = 28) -> dict:
    """Decode every PNG of an Omniglot zip at ``path`` into one tensor (no check of its SHA-256 here).

    Returns a dict with ``images`` (uint8 ``[C, E, size, size]``, ink = 255), ``counts`` (int64 ``[C]``),
    ``class_names`` (``"<Alphabet>/<character>"``) and ``groups`` (the alphabet of each class), classes
    sorted by alphabet and character, examples by file name (that is, by drawer). The PNGs are read
    straight from the zip and decoded in batches of 1024, each batch inverted and shrunk at once.

    Raises:
        CorruptArchiveError: the zip is damaged, a PNG cannot be decoded or is not 105x105, or a file is
            not laid out as ``<root>/<Alphabet>/<character>/<drawing>.png``.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    files: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
    for name, data in read_members(path, ".png"):
        parts = name.split("/")
        if parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        if len(parts) != 4:
            raise CorruptArchiveError(
                f"{path}: member {name!r} is not laid out as <root>/<Alphabet>/<character>/<drawing>.png, "
                f"so this is not one of Omniglot's archives. Fix: use the official file.")
        files.setdefault((parts[1], parts[2]), []).append((parts[3], data))
    if not files:
        raise CorruptArchiveError(f"{path} holds no PNG images, so it is not one of Omniglot's archives. "
                                  f"Fix: use the official file.")
    classes = sorted(files)
    drawings = [sorted(files[c]) for c in classes]
    counts = torch.tensor([len(d) for d in drawings], dtype=torch.int64)
    images = torch.zeros(len(classes), int(counts.max()), size, size, dtype=torch.uint8)
    flat = [(c, e, fname, data) for c, ds in enumerate(drawings) for e, (fname, data) in enumerate(ds)]
    for start in range(0, len(flat), _BATCH):
        chunk = flat[start:start + _BATCH]
        paper = np.empty((len(chunk), SIDE, SIDE), dtype=np.uint8)
        for k, (c, _, fname, data) in enumerate(chunk):
            try:
                with Image.open(io.BytesIO(data)) as picture:
                    if picture.size != (SIDE, SIDE):
                        raise ValueError(f"it is {picture.size[0]}x{picture.size[1]}, not {SIDE}x{SIDE}")
                    if picture.mode == "1":     # Omniglot's PNGs: one bit per pixel, True = white paper
                        np.multiply(np.asarray(picture), 255, out=paper[k], casting="unsafe")
                    else:
                        paper[k] = np.asarray(picture.convert("L"))
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
                raise CorruptArchiveError(
                    f"{path}: image {'/'.join(classes[c])}/{fname} cannot be decoded ({error}). Fix: delete "
                    f"the archive and get the official file again.") from error
        shrunk = _shrink(np.subtract(255, paper, out=paper), size)
        rows = torch.tensor([c for c, *_ in chunk])
        cols = torch.tensor([e for _, e, *_ in chunk])
        images[rows, cols] = shrunk
    return {"images": images, "counts": counts, "class_names": [f"{a}/{ch}" for a, ch in classes],
            "groups": [a for a, _ in classes]}


# ---------------------------------------------------------------------------------------------------
# Fetching, caching
# ---------------------------------------------------------------------------------------------------
def _cache_path(archive: Archive, size: int) -> Path:
    stem = archive.name.removesuffix(".zip")
    return _cache_root() / "omniglot" / f"{stem}-{archive.sha256[:16]}-{size}px-{CACHE_VERSION}.pt"


def _read_cache(path: Path, size: int) -> dict | None:
    """The decoded archive cached at ``path``; None if there is none, or (with a warning) if it is damaged."""
    if not path.is_file():
        return None
    try:
        part = dict(torch.load(path, weights_only=True))
        if "bits" in part:      # 105x105 images are binary: cached as one bit per pixel
            bits = part.pop("bits").numpy()
            part["images"] = torch.from_numpy(np.unpackbits(bits, axis=-1, count=SIDE) * np.uint8(255))
        images = part["images"]
        ok = (images.dtype == torch.uint8 and images.dim() == 4 and tuple(images.shape[2:]) == (size, size)
              and len(part["class_names"]) == len(part["groups"]) == images.shape[0] == part["counts"].shape[0])
        if not ok:
            raise ValueError("its contents are not what this version of metalib writes")
        return part
    except Exception as error:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
        warnings.warn(f"the Omniglot cache file {path} cannot be used ({type(error).__name__}: {error}); "
                      f"decoding the archive again and replacing it", RuntimeWarning, stacklevel=3)
        return None


def _write_cache(path: Path, part: dict) -> None:
    """Save ``part`` to ``path`` (:func:`~metalib.data.paths.write_cache_file`), 105x105 images as bits."""
    images = part["images"]
    if images.shape[-1] == SIDE and bool(((images == 0) | (images == 255)).all()):
        part = {k: v for k, v in part.items() if k != "images"}
        part["bits"] = torch.from_numpy(np.packbits(images.numpy() == 255, axis=-1))
    write_cache_file(path, part, "Omniglot")


def load_archive(key: str, size: int = 28, folder: str | os.PathLike | None = None,
                 download: bool = False) -> dict:
    """The decoded archive ``ARCHIVES[key]`` at ``size`` (see :func:`decode_archive`), from the cache if there.

    On a cache miss the archive is found (or, with ``download=True``, downloaded) and checked by
    :func:`metalib.data.archives.fetch`, decoded, and its tensors cached for the next call. A cache file
    that cannot be read or written costs a :class:`RuntimeWarning`, never the data.
    """
    archive = ARCHIVES[key]
    cached = _cache_path(archive, size)
    part = _read_cache(cached, size)
    if part is None:
        part = decode_archive(fetch(archive, folder, download), size)
        _write_cache(cached, part)
    return part


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= SIDE:
        raise ValueError(f"size must be a whole number of pixels from 1 to {SIDE} (Omniglot's images are "
                         f"{SIDE}x{SIDE}; 28 is the usual few-shot size), got {size!r}")
    return int(size)


def _combine(name: str, parts: Sequence[dict], split_of_group: dict[str, str] | None = None) -> FewShotDataset:
    """One set from decoded archives; a class already taken from an earlier archive is not repeated."""
    keep_images, keep_counts, names, groups, seen = [], [], [], [], set()
    width = max(p["images"].shape[1] for p in parts)
    for part in parts:
        rows = [i for i, n in enumerate(part["class_names"]) if n not in seen]
        seen.update(part["class_names"])
        images = part["images"][rows]
        if images.shape[1] < width:
            images = F.pad(images, (0, 0, 0, 0, 0, width - images.shape[1]))
        keep_images.append(images)
        keep_counts.append(part["counts"][rows])
        names += [part["class_names"][i] for i in rows]
        groups += [part["groups"][i] for i in rows]
    images = keep_images[0] if len(keep_images) == 1 else torch.cat(keep_images)
    counts = keep_counts[0] if len(keep_counts) == 1 else torch.cat(keep_counts)
    return FewShotDataset(name, images, counts, tuple(names), tuple(groups), split_of_group)


# ---------------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------------
def load_omniglot(split: str = "all", size: int = 28, folder: str | os.PathLike | None = None,
                  download: bool = False) -> FewShotDataset:
    """Omniglot's official background (964 characters, 30 alphabets) and evaluation (659, 20) sets, or one.

    Args:
        split: ``"all"`` (both archives, 1623 characters; its ``split()`` follows the official split:
            background alphabets for training, evaluation alphabets alternately for validation and
            test), ``"background"`` or ``"evaluation"`` (one archive, split by fractions when split).
        size: side of the returned images, 1 to 105 (area averaging from 105; 105 keeps the binary PNGs).
        folder: a folder holding the zip archives, searched before ``METALIB_DATA`` and the cache.
        download: fetch missing archives from the official repository into the cache. Without it nothing
            touches the network, and a missing archive is an error that says how to get it.

    Returns:
        A :class:`FewShotDataset` named ``"omniglot-background"``, ``"omniglot-evaluation"`` or
        ``"omniglot"``: uint8 ``[C, 20, size, size]``, ink = 255, classes ``"<Alphabet>/character<NN>"``,
        grouped by alphabet.

    Example::

        data = load_omniglot(download=True)          # first call downloads 16 MB once, then decodes
        train, val, test = data.split()              # train: the 964 background characters
        background = load_omniglot("background")     # already on disk now: no download=True needed

    Reference: Lake, Salakhutdinov and Tenenbaum (2015), Science 350(6266), 1332-1338.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Omniglot split {split!r}; choose one of {', '.join(map(repr, SPLITS))} "
                         f"(or load('omniglot-minimal') for the two small background archives)")
    size = _check_size(size)
    keys = ("background", "evaluation") if split == "all" else (split,)
    parts = [load_archive(k, size, folder, download) for k in keys]
    if split != "all":
        return _combine(f"omniglot-{split}", parts)
    official = {g: "train" for g in parts[0]["groups"]}
    for i, alphabet in enumerate(sorted(set(parts[1]["groups"]))):
        official[alphabet] = ("val", "test")[i % 2]
    return _combine("omniglot", parts, official)


def _which(which: int | Iterable[int]) -> tuple[int, ...]:
    chosen = (which,) if isinstance(which, (int, np.integer)) and not isinstance(which, bool) else tuple(which)
    if not chosen or len(set(chosen)) != len(chosen) or any(w not in (1, 2) or isinstance(w, bool) for w in chosen):
        raise ValueError(f"which must be 1, 2 or (1, 2) (Omniglot's minimal archives "
                         f"images_background_small1 and _small2), got {which!r}")
    return tuple(int(w) for w in chosen)


def load_omniglot_minimal(which: int | Iterable[int] = (1, 2), size: int = 28,
                          folder: str | os.PathLike | None = None, download: bool = False) -> FewShotDataset:
    """Omniglot's minimal background archives: small1 (136 characters of 5 alphabets), small2 (156 of 5).

    Together (``which=(1, 2)``, the default) they hold 8 alphabets and 242 distinct characters: Greek and
    Latin are in both archives with identical images and are kept once.

    Args:
        which: 1, 2 or (1, 2).
        size, folder, download: as for :func:`load_omniglot`.

    Returns:
        A :class:`FewShotDataset` named ``"omniglot-minimal"`` (both) or ``"omniglot-minimal1"`` / ``2``.

    Example::

        data = load_omniglot_minimal(folder="~/data/omniglot")    # or set METALIB_DATA
        train, val, test = data.split()                          # 8 alphabets, split by alphabet

    Reference: Lake, Salakhutdinov and Tenenbaum (2015), Science 350(6266), 1332-1338.
    """
    chosen = _which(which)
    size = _check_size(size)
    parts = [load_archive(f"small{w}", size, folder, download) for w in chosen]
    name = "omniglot-minimal" if len(chosen) == 2 else f"omniglot-minimal{chosen[0]}"
    return _combine(name, parts)


__all__ = ["ARCHIVES", "decode_archive", "load_archive", "load_omniglot", "load_omniglot_minimal"]
