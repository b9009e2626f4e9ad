"""Episodic task sampling: N-way K-shot classification tasks, a whole batch at a time.

A *task* (an episode) draws ``N`` classes from a :class:`~metalib.data.FewShotDataset`, relabels them
``0 .. N-1`` in random order, and draws ``K + Q`` distinct examples of each: ``K`` form the support set
the learner adapts on, ``Q`` the query set it is scored on (Vinyals et al., 2016, "Matching Networks
for One Shot Learning"; Snell et al., 2017; Finn et al., 2017).

:class:`EpisodeSampler` builds a batch of ``B`` tasks with three tensor operations on the device:
``N`` classes per task are the first ``N`` entries of a random permutation (``argsort`` of uniform
noise), the ``K + Q`` examples per class likewise among that class's real examples, and one gather
``images[classes, examples]`` fetches the pixels. There is no Python loop over tasks, classes or
examples.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .data.base import FewShotDataset
from .device import get_device


@dataclass
class Episode:
    """A batch of ``B`` N-way K-shot tasks with ``Q`` queries per class.

    Attributes:
        support_x: float ``[B, N*K, 1, H, W]`` in [0, 1], ordered class by class.
        support_y: int64 ``[B, N*K]``, labels ``0 .. N-1``.
        query_x: float ``[B, N*Q, 1, H, W]``.
        query_y: int64 ``[B, N*Q]``.
        classes: int64 ``[B, N]``; label ``j`` of task ``b`` is class ``classes[b, j]`` of the data set.
        examples: int64 ``[B, N, K+Q]``; which examples of each class were drawn, support first.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor
    examples: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.support_x.shape[0]

    def task(self, b: int) -> "Episode":
        """Task ``b`` alone, as a batch of one."""
        return Episode(*(t[b:b + 1] for t in (self.support_x, self.support_y, self.query_x,
                                              self.query_y, self.classes, self.examples)))


def _check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def draw_indices(counts: torch.Tensor, max_examples: int, n_way: int, per_class: int, batch_size: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(classes [B, N], examples [B, N, per_class])``: N distinct classes per task, and ``per_class``
    distinct examples of each among its ``counts[c]`` real ones, on ``counts``' device."""
    _check_positive_int("batch_size", batch_size)
    g, dev = generator, counts.device
    # N distinct classes per task: the first N of a random permutation of 0..C-1.
    classes = torch.rand(batch_size, counts.numel(), generator=g, device=dev).argsort(dim=1)[:, :n_way]
    # per_class distinct examples per class among its counts[c] real ones (padding sorts last).
    noise = torch.rand(batch_size, n_way, max_examples, generator=g, device=dev)
    noise = noise.masked_fill(torch.arange(max_examples, device=dev) >= counts[classes].unsqueeze(-1), 2.0)
    return classes, noise.argsort(dim=-1)[..., :per_class]


class EpisodeSampler:
    """Draws batches of N-way K-shot tasks from one class-disjoint split, on one device.

    Args:
        dataset: the classes to draw from (one split: see :meth:`FewShotDataset.split`).
        n_way: classes per task (N).
        k_shot: support examples per class (K).
        n_query: query examples per class (Q).
        device: where the images are kept and tasks are built (default :func:`metalib.get_device`).
        seed: seed of the sampler's own random generator; the same seed gives the same tasks.

    Raises:
        ValueError: when N exceeds the classes available, or K + Q exceeds the examples of a class.

    Example:
        >>> sampler = EpisodeSampler(test_split, n_way=5, k_shot=1, n_query=15)   # doctest: +SKIP
        >>> episode = sampler.sample(32)          # 32 tasks: support_x [32, 5, 1, 28, 28]
    """

    def __init__(self, dataset: FewShotDataset, n_way: int, k_shot: int, n_query: int,
                 device: torch.device | str | None = None, seed: int = 0) -> None:
        self.n_way = _check_positive_int("n_way", n_way)
        self.k_shot = _check_positive_int("k_shot", k_shot)
        self.n_query = _check_positive_int("n_query", n_query, minimum=0)
        if n_way > dataset.num_classes:
            raise ValueError(
                f"{n_way}-way tasks need {n_way} classes but {dataset.name} has only "
                f"{dataset.num_classes}; use n_way <= {dataset.num_classes} or a split with more classes")
        need = k_shot + n_query
        smallest = int(dataset.counts.min())
        if need > smallest:
            c = int(dataset.counts.argmin())
            raise ValueError(
                f"k_shot + n_query = {k_shot} + {n_query} = {need} examples per class, but class "
                f"{dataset.class_names[c]!r} of {dataset.name} has only {smallest}; use "
                f"k_shot + n_query <= {smallest}")
        self.dataset = dataset
        self.device = torch.device(device) if device is not None else get_device()
        self.images = dataset.images.to(self.device)
        self.counts = dataset.counts.to(self.device)
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def __repr__(self) -> str:
        return (f"EpisodeSampler({self.dataset.name}: {self.n_way}-way {self.k_shot}-shot, "
                f"{self.n_query} queries per class, on {self.device})")

    def indices(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``(classes [B, N], examples [B, N, K+Q])``: which classes and which of their examples."""
        return draw_indices(self.counts, self.images.shape[1], self.n_way, self.k_shot + self.n_query,
                            batch_size, self.generator)

    def sample(self, batch_size: int = 1) -> Episode:
        """A batch of ``batch_size`` independent tasks."""
        classes, examples = self.indices(batch_size)
        B, N, K, Q = batch_size, self.n_way, self.k_shot, self.n_query
        H, W = self.images.shape[2:]
        x = self.images[classes.unsqueeze(-1), examples].unsqueeze(3).float().div_(255.0)  # [B,N,K+Q,1,H,W]
        labels = torch.arange(N, device=self.device).view(1, N, 1)
        return Episode(
            support_x=x[:, :, :K].reshape(B, N * K, 1, H, W),
            support_y=labels.expand(B, N, K).reshape(B, N * K),
            query_x=x[:, :, K:].reshape(B, N * Q, 1, H, W),
            query_y=labels.expand(B, N, Q).reshape(B, N * Q),
            classes=classes,
            examples=examples,
        )


@dataclass
class RowEpisode:
    """A batch of ``B`` N-way K-shot tasks over examples that are rows of a table (texts, sounds).

    Attributes:
        support: int64 ``[B, N*K]``, the rows of the support examples, ordered class by class.
        support_y: int64 ``[B, N*K]``, labels ``0 .. N-1``.
        query: int64 ``[B, N*Q]``, the rows of the query examples.
        query_y: int64 ``[B, N*Q]``.
        classes: int64 ``[B, N]``; label ``j`` of task ``b`` is class ``classes[b, j]``.
    """

    support: torch.Tensor
    support_y: torch.Tensor
    query: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor


class RowEpisodeSampler:
    """Draws N-way K-shot tasks whose examples are rows of a table, given each example's class.

    The same draw as :class:`EpisodeSampler` (:func:`draw_indices`), for data that is not a stack of
    equal images: the caller keeps the examples (token ids, features, waveforms) in a table and
    indexes it with the rows each task returns.

    Args:
        labels: int64 ``[M]``, the class of each row (any integers; classes with fewer than
            ``k_shot + n_query`` rows are an error, since no task could use them fairly).
        n_way, k_shot, n_query, seed: as for :class:`EpisodeSampler`.
        rows: draw only among these rows (a split's, say); the tasks still name rows of the whole
            table. Default: every row.

    Example:
        >>> sampler = RowEpisodeSampler(torch.tensor([0, 0, 1, 1, 2, 2]), 2, 1, 1)
        >>> ep = sampler.sample(4)
        >>> ep.support.shape, ep.query.shape
        (torch.Size([4, 2]), torch.Size([4, 2]))
    """

    def __init__(self, labels: torch.Tensor, n_way: int, k_shot: int, n_query: int, seed: int = 0,
                 rows: torch.Tensor | None = None) -> None:
        self.n_way = _check_positive_int("n_way", n_way)
        self.k_shot = _check_positive_int("k_shot", k_shot)
        self.n_query = _check_positive_int("n_query", n_query, minimum=0)
        labels = torch.as_tensor(labels)
        if labels.dim() != 1 or labels.dtype not in (torch.int64, torch.int32) or labels.numel() == 0:
            raise ValueError(f"labels must be a non-empty 1-D integer tensor (one class per row), "
                             f"got {labels.dtype} of shape {tuple(labels.shape)}")
        if rows is not None:
            rows = torch.as_tensor(rows, dtype=torch.int64)
            labels = labels[rows]
        self.class_ids, inverse, counts = labels.unique(return_inverse=True, return_counts=True)
        if n_way > counts.numel():
            raise ValueError(f"{n_way}-way tasks need {n_way} classes but the labels hold only "
                             f"{counts.numel()}; use n_way <= {counts.numel()}")
        need = k_shot + n_query
        if need > int(counts.min()):
            raise ValueError(f"k_shot + n_query = {need} rows per class, but class "
                             f"{int(self.class_ids[counts.argmin()])} has only {int(counts.min())}; "
                             f"drop the classes with fewer rows or use k_shot + n_query <= {int(counts.min())}")
        # rows[c, e]: the e-th row of class c (a stable sort keeps each class's rows in table order).
        order = inverse.argsort(stable=True)
        starts = torch.cumsum(counts, 0) - counts
        e = torch.arange(labels.numel()) - starts[inverse[order]]
        self.rows = torch.full((counts.numel(), int(counts.max())), -1, dtype=torch.int64)
        self.rows[inverse[order], e] = order if rows is None else rows[order]
        self.counts = counts
        self.generator = torch.Generator().manual_seed(seed)

    def __repr__(self) -> str:
        return (f"RowEpisodeSampler({self.counts.numel()} classes: {self.n_way}-way {self.k_shot}-shot, "
                f"{self.n_query} queries per class)")

    def sample(self, batch_size: int = 1) -> RowEpisode:
        """A batch of ``batch_size`` independent tasks."""
        B, N, K, Q = batch_size, self.n_way, self.k_shot, self.n_query
        classes, examples = draw_indices(self.counts, self.rows.shape[1], N, K + Q, B, self.generator)
        rows = self.rows[classes.unsqueeze(-1), examples]                       # [B, N, K+Q]
        labels = torch.arange(N).view(1, N, 1)
        return RowEpisode(support=rows[:, :, :K].reshape(B, N * K),
                          support_y=labels.expand(B, N, K).reshape(B, N * K),
                          query=rows[:, :, K:].reshape(B, N * Q),
                          query_y=labels.expand(B, N, Q).reshape(B, N * Q),
                          classes=self.class_ids[classes])
