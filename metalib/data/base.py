"""The container every few-shot image set shares: images grouped by class, classes grouped by alphabet.

A :class:`FewShotDataset` holds ``images[c, e]``, example ``e`` of class ``c``, as one uint8 tensor
``[C, E, H, W]`` with ink = 255 on a background of 0 (Omniglot's PNGs are inverted on loading so that
every set agrees). Classes may hold fewer than ``E`` examples: ``counts[c]`` says how many are real,
the rest is padding that samplers never read. Keeping a whole set in one tensor is what lets
:class:`metalib.tasks.EpisodeSampler` build a batch of tasks by indexing on the device, with no Python
loop over examples.

Each class belongs to a *group* (an alphabet for Omniglot and the glyph set, the class itself where
there are no alphabets). :meth:`FewShotDataset.split` cuts a set into class-disjoint meta-train,
validation and test parts along groups, as Lake et al. (2015) split Omniglot by alphabet.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Sequence

import torch

SPLIT_NAMES = ("train", "val", "test")


class Splits(NamedTuple):
    """Class-disjoint meta-train, validation and test parts of one :class:`FewShotDataset`."""

    train: "FewShotDataset"
    val: "FewShotDataset"
    test: "FewShotDataset"


@dataclass(frozen=True, eq=False)
class FewShotDataset:
    """Images grouped by class, the form every episodic sampler in metalib reads.

    Args:
        name: what the set is called (shown in errors and plots), e.g. ``"glyphs"`` or ``"omniglot/train"``.
        images: uint8 tensor ``[C, E, H, W]``; ``images[c, e]`` is example ``e`` of class ``c``, ink = 255.
        counts: int64 tensor ``[C]``; class ``c`` has ``counts[c]`` real examples ``images[c, :counts[c]]``.
        class_names: one name per class, e.g. ``"Greek/character03"``.
        groups: the alphabet (or other group) of each class; splits never cut a group in two.
        split_of_group: an official split, mapping each group to ``"train"``, ``"val"`` or ``"test"``
            (Omniglot's background / evaluation alphabets, say); :meth:`split` follows it when given.

    Example:
        >>> data = FewShotDataset.from_tensor("toy", torch.zeros(6, 4, 8, 8, dtype=torch.uint8),
        ...                                   groups=["a", "a", "b", "b", "c", "c"])
        >>> train, val, test = data.split(fractions=(1, 1, 1))
        >>> train.num_classes + val.num_classes + test.num_classes
        6
    """

    name: str
    images: torch.Tensor
    counts: torch.Tensor
    class_names: tuple[str, ...]
    groups: tuple[str, ...]
    split_of_group: Mapping[str, str] | None = field(default=None)

    def __post_init__(self) -> None:
        images, counts = self.images, self.counts
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"{self.name}: images must be a uint8 tensor [classes, examples, height, width], "
                f"got {images.dtype} of shape {tuple(images.shape)}"
            )
        num_classes, max_examples = images.shape[:2]
        if counts.shape != (num_classes,):
            raise ValueError(f"{self.name}: counts must have one entry per class ({num_classes}), "
                             f"got shape {tuple(counts.shape)}")
        if num_classes and (int(counts.min()) < 1 or int(counts.max()) > max_examples):
            raise ValueError(f"{self.name}: every count must lie in 1..{max_examples} (the examples "
                             f"dimension of images), got {int(counts.min())}..{int(counts.max())}")
        if len(self.class_names) != num_classes or len(self.groups) != num_classes:
            raise ValueError(f"{self.name}: need one class name and one group per class ({num_classes}), "
                             f"got {len(self.class_names)} names and {len(self.groups)} groups")
        if self.split_of_group is not None:
            missing = sorted(set(self.groups) - set(self.split_of_group))
            bad = sorted({s for s in self.split_of_group.values()} - set(SPLIT_NAMES))
            if missing or bad:
                raise ValueError(f"{self.name}: split_of_group must map every group to one of "
                                 f"{SPLIT_NAMES}; missing groups {missing[:5]}, unknown splits {bad}")

    @classmethod
    def from_tensor(cls, name: str, images: torch.Tensor, groups: Sequence[str] | None = None,
                    class_names: Sequence[str] | None = None, counts: torch.Tensor | None = None,
                    split_of_group: Mapping[str, str] | None = None) -> "FewShotDataset":
        """Wrap a full uint8 tensor ``[C, E, H, W]``; each class is its own group unless ``groups`` is given."""
        num_classes, max_examples = images.shape[:2]
        names = tuple(class_names) if class_names is not None else tuple(f"class{c:04d}" for c in range(num_classes))
        if counts is None:
            counts = torch.full((num_classes,), max_examples, dtype=torch.int64)
        return cls(name, images, counts.to(torch.int64), names,
                   tuple(groups) if groups is not None else names, split_of_group)

    # ----------------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[2:])

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def alphabets(self) -> list[str]:
        """The distinct groups, in order of first appearance."""
        return list(dict.fromkeys(self.groups))

    def __len__(self) -> int:
        return int(self.counts.sum())

    def __repr__(self) -> str:
        h, w = self.image_size
        return (f"FewShotDataset({self.name!r}: {self.num_classes} classes in {len(self.alphabets)} groups, "
                f"{len(self)} images of {h}x{w})")

    def to(self, device: torch.device | str) -> "FewShotDataset":
        """The same set with its tensors on ``device``."""
        return FewShotDataset(self.name, self.images.to(device), self.counts.to(device),
                              self.class_names, self.groups, self.split_of_group)

    def subset(self, classes: Sequence[int] | torch.Tensor, name: str | None = None) -> "FewShotDataset":
        """The classes at the given indices (in that order), as a new set."""
        index = torch.as_tensor(classes, dtype=torch.int64)
        rows = index.tolist()
        return FewShotDataset(name or self.name, self.images[index.to(self.device)],
                              self.counts[index.to(self.counts.device)],
                              tuple(self.class_names[i] for i in rows), tuple(self.groups[i] for i in rows),
                              self.split_of_group)

    def with_rotations(self, quarter_turns: Sequence[int] = (0, 1, 2, 3)) -> "FewShotDataset":
        """Each class rotated by ``k x 90`` degrees for each ``k`` in ``quarter_turns``, as new classes.

        The papers' Omniglot augmentation (Santoro et al., 2016; Vinyals et al., 2016; Snell et al.,
        2017): a character turned by 90 degrees is a different character. Rotated classes keep their
        group, so a split by alphabet keeps every rotation of a character on the same side. Class
        ``k * C + c`` is class ``c`` turned ``quarter_turns[k]`` times; its name ends in ``@90`` etc.
        """
        turns = [int(k) % 4 for k in quarter_turns]
        if not turns or len(set(turns)) != len(turns):
            raise ValueError(f"quarter_turns must be distinct numbers of 90-degree turns, got {tuple(quarter_turns)}")
        h, w = self.image_size
        if h != w and any(k % 2 for k in turns):
            raise ValueError(f"{self.name} has {h}x{w} images; turning them by 90 degrees changes their shape. "
                             f"Use quarter_turns=(0, 2) or square images")
        images = torch.cat([torch.rot90(self.images, k, dims=(2, 3)) for k in turns])
        names = tuple(n if k == 0 else f"{n}@{90 * k}" for k in turns for n in self.class_names)
        return FewShotDataset(f"{self.name}+rot", images, self.counts.repeat(len(turns)), names,
                              self.groups * len(turns), self.split_of_group)

    def examples(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every real example as ``(x, y)``: x float ``[M, 1, H, W]`` in [0, 1], y int64 class indices ``[M]``."""
        valid = torch.arange(self.images.shape[1], device=self.device) < self.counts.to(self.device)[:, None]
        x = self.images[valid].unsqueeze(1).float() / 255.0
        y = torch.arange(self.num_classes, device=self.device)[:, None].expand_as(valid)[valid]
        return x, y

    # ----------------------------------------------------------------------------------------------
    def split(self, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> Splits:
        """Cut the set into class-disjoint ``(train, val, test)`` parts that never share a group.

        With an official split (``split_of_group``) that split is returned and ``fractions`` and
        ``seed`` are ignored. Otherwise the groups are shuffled with ``seed`` and dealt out so that
        the share of *classes* in each part comes as close to ``fractions`` as whole groups allow.
        A part whose fraction is 0 is empty.
        """
        if self.split_of_group is not None:
            parts = {s: [c for c, g in enumerate(self.groups) if self.split_of_group[g] == s] for s in SPLIT_NAMES}
            return Splits(*(self.subset(parts[s], f"{self.name}/{s}") for s in SPLIT_NAMES))
        if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
            raise ValueError(f"fractions must be three non-negative numbers (train, val, test), got {tuple(fractions)}")
        total = float(sum(fractions))
        wanted = [f / total * self.num_classes for f in fractions]
        groups = self.alphabets
        needed = sum(1 for f in fractions if f > 0)
        if len(groups) < needed:
            raise ValueError(
                f"{self.name} has {len(groups)} group(s) ({', '.join(groups[:5])}), too few for {needed} "
                f"group-disjoint parts; give fewer non-zero fractions, e.g. fractions=(0.8, 0, 0.2) "
                f"needs two groups")
        size = {g: 0 for g in groups}
        for g in self.groups:
            size[g] += 1
        order = groups[:]
        random.Random(seed).shuffle(order)
        # Deal groups out: first one group to every part that wants some, then each further group to
        # the part furthest below its target.
        assigned: dict[str, int] = {}
        have = [0.0, 0.0, 0.0]
        parts_wanting = [i for i in (2, 1, 0) if fractions[i] > 0]
        for i, g in zip(parts_wanting, order):
            assigned[g], have[i] = i, have[i] + size[g]
        for g in order[len(parts_wanting):]:
            i = max(parts_wanting, key=lambda p: (wanted[p] - have[p]) / wanted[p])
            assigned[g], have[i] = i, have[i] + size[g]
        parts = [[c for c, g in enumerate(self.groups) if assigned[g] == i] for i in range(3)]
        return Splits(*(self.subset(parts[i], f"{self.name}/{s}") for i, s in enumerate(SPLIT_NAMES)))
