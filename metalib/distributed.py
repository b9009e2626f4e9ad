"""Data-parallel meta-training over several processes: ``torch.distributed``, launched by ``torchrun``.

A meta-gradient is a mean over the ``B`` tasks of a meta-batch,

.. math::  g = \\frac{1}{B} \\sum_{b=1}^{B} \\nabla_θ L_b(θ)
             = \\frac{1}{R} \\sum_{r=1}^{R} \\underbrace{\\frac{R}{B} \\sum_{b \\in \\text{part}_r}
               \\nabla_θ L_b(θ)}_{g_r},

so ``R`` processes (*ranks*) that each adapt their own ``B / R`` tasks and compute the mean gradient
``g_r`` of those can add their ``g_r`` up (an *all-reduce*), divide by ``R``, and all take the same
optimiser step: every rank keeps the same parameters, and the result is the one-process
meta-gradient up to the order of the floating-point sums. The tasks are adapted independently, so
nothing else crosses between ranks. What can differ is what mixes tasks: a batch norm that pools the
statistics of a whole meta-batch (Prototypical Networks embed all of a step's tasks in one batch)
sees only its rank's tasks (on GPUs :class:`torch.nn.SyncBatchNorm` pools them again; MAML's batch
norm uses each task's own statistics and is unaffected).

:func:`setup` joins the process group that ``torchrun`` describes in the environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``); outside ``torchrun`` it returns a single rank and
every method below does nothing, so one script serves both. A meta-training step then reads::

    ranks, device = metalib.distributed.setup(args.device)
    ...
    episode = ranks.shard(sampler.sample(meta_batch))   # every rank draws the same tasks, keeps its part
    loss = learner.loss(episode)
    optimizer.zero_grad(); loss.backward()
    ranks.average_gradients(learner.parameters())       # the one-process meta-gradient on every rank
    optimizer.step()

and ``torchrun --standalone --nproc_per_node 2 experiments/optimization_omniglot.py ...`` runs it on
two processes (gloo on CPUs, NCCL on GPUs: rank ``r`` uses GPU ``LOCAL_RANK``). All ranks draw the
same tasks from the same seed and each keeps its contiguous part, so the union of the parts is the
one-process meta-batch; drawing indices is cheap next to adapting a network on them.
:func:`metalib.evaluate` with ``ranks=`` scores each rank's share of the test tasks and gathers the
accuracies (:meth:`Ranks.gather`), and only rank 0 writes results
(:func:`metalib.results.save_results`).

PyTorch's :class:`~torch.nn.parallel.DistributedDataParallel` does the same all-reduce, overlapped
with the backward pass, but it hooks a module's ``forward``, which meta-learners do not call once per
step (the inner loop calls the network again and again, through ``torch.func``); one all-reduce of
the gradients after ``backward`` is what is left, and it is one call.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from dataclasses import dataclass
from typing import Iterable, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def launched() -> int:
    """The number of processes ``torchrun`` started for this run (``WORLD_SIZE``; 1 without torchrun)."""
    value = os.environ.get("WORLD_SIZE", "1").strip() or "1"
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE={value!r} is not a whole number; torchrun sets it, do not set it "
                         f"by hand") from None


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that prints and writes results."""
        return self.rank == 0

    def part(self, batch_size: int) -> slice:
        """This rank's tasks among ``batch_size``: a contiguous ``batch_size / world_size`` of them.

        Raises:
            ValueError: ``batch_size`` does not split evenly (the average of the ranks' mean
                gradients is the meta-gradient only when every rank holds as many tasks).
        """
        if batch_size % self.world_size:
            raise ValueError(f"a meta-batch of {batch_size} tasks does not split evenly over "
                             f"{self.world_size} processes; use a meta-batch that {self.world_size} "
                             f"divides, or a number of processes that divides {batch_size}")
        size = batch_size // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def split(self, total: int) -> slice:
        """This rank's share of ``total`` independent items (test episodes): nearly equal, contiguous."""
        return slice(self.rank * total // self.world_size, (self.rank + 1) * total // self.world_size)

    def shard(self, episode: T, even: bool = True) -> T:
        """This rank's tasks of ``episode``: every tensor field with the leading task dimension is cut
        to :meth:`part` (an :class:`metalib.Episode`, a sinusoid or row episode, any dataclass), or to
        :meth:`split` with ``even=False`` (test tasks, which need not split evenly)."""
        if self.world_size == 1:
            return episode
        fields = {f.name: getattr(episode, f.name) for f in dataclasses.fields(episode)}
        sizes = {v.shape[0] for v in fields.values() if isinstance(v, torch.Tensor) and v.dim() > 0}
        if len(sizes) != 1:
            raise ValueError(f"shard: the tensors of {type(episode).__name__} disagree on the number of "
                             f"tasks (leading sizes {sorted(sizes)}); shard the tensors with part() instead")
        size = sizes.pop()
        keep = self.part(size) if even else self.split(size)
        return dataclasses.replace(episode, **{k: v[keep] for k, v in fields.items()
                                               if isinstance(v, torch.Tensor) and v.dim() > 0})

    def average_gradients(self, parameters: Iterable[torch.Tensor]) -> None:
        """Replace each parameter's ``.grad`` by its mean over the ranks (one all-reduce per dtype).

        A parameter without a gradient counts as zeros and gets one, so that every rank steps alike.
        """
        if self.world_size == 1:
            return
        params = [p for p in parameters if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        _average([p.grad for p in params], self.world_size)

    def average_parameters(self, module: torch.nn.Module) -> None:
        """Replace each parameter and floating-point buffer of ``module`` by its mean over the ranks.

        For updates that are not gradients: Reptile's step ``θ + ε (mean φ − θ)`` averaged over the
        ranks is the step on the whole meta-batch; batch norm's running statistics, which each rank
        gathered from its own tasks, become their mean before evaluation.
        """
        if self.world_size == 1:
            return
        with torch.no_grad():
            _average([t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()],
                     self.world_size)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the ranks (the meta-batch's loss from each rank's part)."""
        if self.world_size == 1:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        """Every rank's ``values`` (any lengths along dimension 0), concatenated in rank order, on every rank."""
        if self.world_size == 1:
            return values
        parts: list = [None] * self.world_size
        dist.all_gather_object(parts, values.detach().cpu())
        return torch.cat(parts).to(values.device)


def _average(tensors: list[torch.Tensor], world_size: int) -> None:
    """Each tensor becomes its mean over the ranks, in place: one all-reduce per dtype and device."""
    groups: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        dist.all_reduce(flat)
        flat /= world_size
        start = 0
        for t in group:
            t.copy_(flat[start:start + t.numel()].view_as(t))
            start += t.numel()


def setup(device: str | torch.device | None = None) -> tuple[Ranks, torch.device]:
    """Join ``torchrun``'s process group and return ``(ranks, device)``; one rank without ``torchrun``.

    ``device`` is as for :func:`metalib.get_device`. On CUDA each rank takes GPU ``LOCAL_RANK`` and the
    NCCL backend; on the CPU, gloo.

    Raises:
        RuntimeError: more processes on a machine than it has GPUs.
    """
    from .device import get_device   # here: get_device asks whether a process group is set up

    world = launched()
    if world == 1:
        return Ranks(), get_device(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        kind = torch.device(device or os.environ.get("METALIB_DEVICE", "").strip()
                            or ("cuda" if torch.cuda.is_available() else "cpu")).type
        if kind == "cuda":
            if local >= torch.cuda.device_count():
                raise RuntimeError(f"process {local} on this machine has no GPU of its own (there are "
                                   f"{torch.cuda.device_count()}); use --nproc_per_node "
                                   f"{torch.cuda.device_count()}")
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if kind == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), local)
    chosen = get_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local)
    return ranks, chosen


def teardown() -> None:
    """Leave the process group (at the end of a script run by ``torchrun``)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def current() -> Ranks:
    """The ranks of the process group already set up, else one rank."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Ranks()
