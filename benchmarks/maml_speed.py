"""MAML meta-training speed: metalib against learn2learn, in one process, on the same model, weights and data.

What it runs
    Finn et al.'s Omniglot network (``metalib.backbones.Conv4Classifier``: four 3x3 stride-2 conv
    blocks of 64 filters with batch norm, a spatial mean, a linear head; learn2learn's
    ``OmniglotCNN`` is the same network) on 28x28 glyph tasks, second-order MAML with inner step 0.4,
    in four settings:

    - ``5w1s``:        5-way 1-shot, 1 query per class, meta-batch 32, 1 inner step;
    - ``5w1s-5steps``: the same with 5 inner steps;
    - ``20w1s``:       20-way 1-shot, 1 query per class, meta-batch 16, 1 inner step;
    - ``5w5s``:        5-way 5-shot, 5 queries per class, meta-batch 32, 1 inner step.

    One meta-training step is: the meta-loss of the whole meta-batch (adapt on each support set,
    loss on each query set), its backward pass, and an Adam step. learn2learn does it the way its
    examples do: for each task ``clone()``, ``adapt()`` the steps, evaluate, ``backward()`` the query
    loss divided by the meta-batch size. metalib does it in one call, ``MAML.loss(episode)``. Both
    start from copies of one network and see the same pre-sampled meta-batch; before timing, the
    script checks that their meta-gradients agree: ``gradient_relative_difference`` in float32, where
    round-off amplified by the inner steps leaves up to a few percent, and
    ``gradient_relative_difference_float64`` on float64 copies, which must be round-off small.

    Timing alternates the two implementations ``--repeats`` times (``--steps`` steps each, after
    ``--warmup`` untimed steps), so a slow moment of the machine hits both; the figure kept is the
    median over repeats. On CUDA the device is synchronised only before and after each timed block.

    First-order memory: first-order MAML at 1, 5 and 10 inner steps, with the bytes of the autograd
    graph still held when the meta-loss is returned (every device) and ``torch.cuda.max_memory_allocated``
    over a step (CUDA only); first order must not grow with the number of steps.

What the figures mean
    ``tasks_per_s``  meta-batch size x steps / seconds, per implementation;
    ``ratio``        metalib's tasks per second over learn2learn's (the issue's targets: at least 25
                     on an H100, at least 1.5 on 2 CPU cores, in every setting);
    ``peak_memory_mib``  CUDA only.

How to run it (from the repository root)
    python benchmarks/maml_speed.py --device cpu --profile   # 2 CPU cores: about 6 minutes
    python benchmarks/maml_speed.py --device cuda

    Results go to ``results/benchmarks/maml_speed_<device type>.json`` with the device, versions,
    thread count and git commit (:func:`metalib.results.save_results`). Run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import copy
import statistics
from types import SimpleNamespace

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F

from metalib.backbones import Conv4Classifier
from metalib.optimization import MAML
from metalib.profiling import graph_bytes
from metalib.results import save_results
from timing import sync, timed   # benchmarks/timing.py, beside this script

# name: (n_way, k_shot, n_query, meta_batch, inner_steps)
SETTINGS = {"5w1s": (5, 1, 1, 32, 1), "5w1s-5steps": (5, 1, 1, 32, 5), "20w1s": (20, 1, 1, 16, 1),
            "5w5s": (5, 5, 5, 32, 1)}
INNER_LR = 0.4
TARGETS = {"cuda": 25.0, "cpu": 1.5}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: metalib.get_device())")
    p.add_argument("--steps", type=int, default=None, help="timed steps per block (default: 3 CPU, 20 CUDA)")
    p.add_argument("--repeats", type=int, default=None, help="alternating blocks per implementation (default: 3 CPU, 5 CUDA)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per implementation before timing")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions (both implementations)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick the fastest conv algorithms")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    p.add_argument("--profile", action="store_true",
                   help="profile one step of each: time in convolution kernels and in everything else (CPU time)")
    p.add_argument("--task-chunk", type=int, default=None,
                   help="metalib's MAML(task_chunk=...): the most tasks per vectorised piece (default: its own choice)")
    p.add_argument("--channels-last", action="store_true",
                   help="the network's weights in channels-last memory format (both implementations)")
    p.add_argument("--out", default=None, help="results name (default: benchmarks/maml_speed_<device type>)")
    p.add_argument("--no-save", action="store_true", help="print only; store nothing (for trying options)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def make_steps(net: torch.nn.Module, episode, inner_steps: int, first_order: bool = False,
               task_chunk: int | None = None):
    """One training step of each implementation, each with its own copy of ``net`` and its own Adam."""
    import learn2learn as l2l

    ours = MAML(net, inner_lr=INNER_LR, inner_steps=inner_steps, first_order=first_order, task_chunk=task_chunk)
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-3)
    theirs = l2l.algorithms.MAML(copy.deepcopy(net), lr=INNER_LR, first_order=first_order)
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    B = episode.support_x.shape[0]

    def ours_gradient() -> None:
        ours.loss(episode).backward()

    def theirs_gradient() -> None:
        for b in range(B):
            learner = theirs.clone()
            for _ in range(inner_steps):
                learner.adapt(F.cross_entropy(learner(episode.support_x[b]), episode.support_y[b]))
            (F.cross_entropy(learner(episode.query_x[b]), episode.query_y[b]) / B).backward()

    def ours_step() -> None:
        ours_opt.zero_grad(set_to_none=True)
        ours_gradient()
        ours_opt.step()

    def theirs_step() -> None:
        theirs_opt.zero_grad(set_to_none=True)
        theirs_gradient()
        theirs_opt.step()

    # the same meta-gradient before any step
    ours_gradient()
    theirs_gradient()
    diff = relative_difference(ours.model.parameters(), theirs.module.parameters())
    return ours_step, theirs_step, diff


def relative_difference(ours, theirs) -> float:
    """``|g - g_l2l| / |g_l2l|`` over the whole meta-gradient (the ``.grad`` of two parameter lists)."""
    a = torch.cat([p.grad.flatten() for p in ours])
    b = torch.cat([p.grad.flatten() for p in theirs])
    return ((a - b).norm() / b.norm()).item()


def float64_difference(net: torch.nn.Module, episode, inner_steps: int) -> float:
    """The same comparison as :func:`make_steps` makes, on float64 copies of ``net`` and ``episode``.
    In float32 the two differ by round-off that the inner steps amplify (a ReLU input that rounds to
    the other side of zero, with many equal pixels in blank glyph regions); in float64 they must
    agree to about 1e-13, which shows the float32 figure is round-off and not a different gradient."""
    double = SimpleNamespace(support_x=episode.support_x.double(), support_y=episode.support_y,
                             query_x=episode.query_x.double(), query_y=episode.query_y)
    return make_steps(copy.deepcopy(net).double(), double, inner_steps)[2]


def bench_setting(name: str, train_split, device: torch.device, steps: int, repeats: int,
                  args: argparse.Namespace) -> dict:
    n_way, k_shot, n_query, B, inner_steps = SETTINGS[name]
    metalib.seed_everything(args.seed, deterministic=False)
    episode = metalib.EpisodeSampler(train_split, n_way, k_shot, n_query, device=device, seed=args.seed).sample(B)
    net = Conv4Classifier(n_way).to(device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    diff64 = float64_difference(net, episode, inner_steps)
    ours_step, theirs_step, diff = make_steps(net, episode, inner_steps, task_chunk=args.task_chunk)
    seconds = {"metalib": [], "learn2learn": []}
    peak = {"metalib": None, "learn2learn": None}
    for impl, step in (("metalib", ours_step), ("learn2learn", theirs_step)):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(args.warmup):
            step()
        if device.type == "cuda":
            sync(device)
            peak[impl] = torch.cuda.max_memory_allocated(device) / 2**20
    for _ in range(repeats):
        seconds["metalib"].append(timed(ours_step, steps, device))
        seconds["learn2learn"].append(timed(theirs_step, steps, device))
    profiled = ({impl: kernel_breakdown(step) for impl, step in (("metalib", ours_step), ("learn2learn", theirs_step))}
                if args.profile else None)
    rate = {impl: B * steps / statistics.median(s) for impl, s in seconds.items()}
    ratio = rate["metalib"] / rate["learn2learn"]
    if profiled:
        print("             one step, ms of kernel time (convolutions + everything else): " + ",  ".join(
            f"{impl} {k['convolution']:.0f} + {k['other']:.0f}" for impl, k in profiled.items()), flush=True)
    print(f"{name:12} metalib {rate['metalib']:8.1f} tasks/s   learn2learn {rate['learn2learn']:8.1f} tasks/s   "
          f"ratio {ratio:5.2f}   gradient difference {diff:.1e} (float64: {diff64:.1e})", flush=True)
    return {"n_way": n_way, "k_shot": k_shot, "n_query": n_query, "meta_batch": B, "inner_steps": inner_steps,
            "second_order": True, "inner_lr": INNER_LR, "steps_per_block": steps, "repeats": repeats,
            "seconds": seconds, "tasks_per_s": rate, "ratio": ratio,
            "target_ratio": TARGETS.get(device.type), "meets_target": ratio >= TARGETS.get(device.type, float("inf")),
            "peak_memory_mib": peak, "gradient_relative_difference": diff,
            "gradient_relative_difference_float64": diff64, "kernel_ms": profiled}


def kernel_breakdown(step) -> dict:
    """One step under ``torch.profiler``: milliseconds of self time in convolution kernels (forward
    and backward) and in everything else. Where both implementations spend the same time in
    convolutions, ``total / convolution`` of learn2learn bounds the ratio any batching can reach."""
    from torch.profiler import profile

    with profile() as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e3
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key) / 1e3
    return {"total": total, "convolution": conv, "other": total - conv}


def first_order_memory(train_split, device: torch.device, args: argparse.Namespace) -> dict:
    n_way, k_shot, n_query, B, _ = SETTINGS["5w1s"]
    episode = metalib.EpisodeSampler(train_split, n_way, k_shot, n_query, device=device, seed=args.seed).sample(B)
    net = Conv4Classifier(n_way).to(device)
    out = {}
    for first_order in (True, False):
        for steps in (1, 5, 10):
            maml = MAML(net, inner_lr=INNER_LR, inner_steps=steps, first_order=first_order)
            maml.loss(episode).backward()   # warm-up
            maml.zero_grad(set_to_none=True)
            if device.type == "cuda":
                sync(device)
                torch.cuda.reset_peak_memory_stats(device)
            loss, held = graph_bytes(lambda: maml.loss(episode))
            loss.backward()
            peak = None
            if device.type == "cuda":
                sync(device)
                peak = torch.cuda.max_memory_allocated(device) / 2**20
            key = f"{'first' if first_order else 'second'}_order_{steps}_steps"
            out[key] = {"graph_mib": held / 2**20, "peak_memory_mib": peak}
            print(f"{key:24} graph held {held / 2**20:8.2f} MiB   peak {peak if peak is None else round(peak, 1)} MiB",
                  flush=True)
    return out


def main() -> None:
    args = parse_args()
    device = metalib.get_device(args.device)
    steps = args.steps if args.steps is not None else (20 if device.type == "cuda" else 3)
    repeats = args.repeats if args.repeats is not None else (5 if device.type == "cuda" else 3)
    if steps < 1 or repeats < 1 or args.warmup < 0:
        raise SystemExit(f"--steps and --repeats must be >= 1 and --warmup >= 0, got {steps}, {repeats}, {args.warmup}")
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    import learn2learn as l2l

    train_split = metalib.data.load("glyphs").split().train
    print(f"{train_split} on {device} ({torch.get_num_threads()} threads), {repeats} x {steps} timed steps per "
          f"implementation and setting")
    figures = {name: bench_setting(name, train_split, device, steps, repeats, args) for name in args.settings}
    memory = first_order_memory(train_split, device, args)
    fo = [memory[f"first_order_{s}_steps"] for s in (1, 5, 10)]
    key = "peak_memory_mib" if device.type == "cuda" else "graph_mib"
    results = {
        "model": "Conv4Classifier (Finn et al. Omniglot CNN: stride-2 convs, 64 filters, batch norm), 28x28 glyphs",
        "learn2learn": l2l.__version__, "threads": torch.get_num_threads(), "seed": args.seed,
        "options": {"tf32": args.tf32, "cudnn_benchmark": args.cudnn_benchmark, "task_chunk": args.task_chunk,
                    "channels_last": args.channels_last},
        "settings": figures, "first_order_memory": memory,
        "first_order_memory_flat": max(m[key] for m in fo) <= 1.05 * fo[0][key],
    }
    print(f"every setting meets the {TARGETS.get(device.type)}x target: "
          f"{all(f['meets_target'] for f in figures.values())}; first-order memory flat: "
          f"{results['first_order_memory_flat']}")
    if not args.no_save:
        name = args.out or f"benchmarks/maml_speed_{device.type}"
        print(f"saved {save_results(name, results, device)}")


if __name__ == "__main__":
    main()
