"""How fast Prototypical Networks train: episodes per second, with and without the task sampler.

What it runs
    A Prototypical Network (Snell et al., 2017) over a Conv4, trained with Adam (learning rate 1e-3)
    on the glyph set's meta-training split (``metalib.data.load("glyphs").split().train``), one task
    per step (meta-batch 1, as Snell et al.), in two settings, each with 15 queries per class:

    - ``5w1s``:  5-way 1-shot,  5 x (1 + 15) =  80 images per episode;
    - ``20w5s``: 20-way 5-shot, 20 x (5 + 15) = 400 images per episode.

    A training step is ``sampler.sample(1)`` + forward + loss + backward + ``optimizer.step()``, with
    ``n_way`` passed to the loss so that nothing reads labels back to the host. Each setting runs
    ``--warmup`` untimed steps, then ``--steps`` timed steps; then the same number of steps on one
    pre-sampled episode (forward + backward + optimiser step only), timed the same way. On CUDA the
    device is synchronised only just before and just after each timed loop.

What the figures mean
    ``episodes/s``        full training steps per second (sampling, Python and the model together);
    ``model episodes/s``  steps per second on a fixed episode: the model's forward, backward and step;
    ``outside model``     ``1 - t_model / t_total``: the share of a step's time spent outside the model
                          (building the episode on the device, Python and launch overhead); a
                          value near zero, even slightly negative, is timing noise around a
                          sampler that costs next to nothing;
    ``peak MiB``          ``torch.cuda.max_memory_allocated`` during the setting (CUDA only).

How to run it (from the repository root)
    python benchmarks/protonet_speed.py                        # on metalib.get_device()
    python benchmarks/protonet_speed.py --device cpu           # 100 steps per setting by default
    python benchmarks/protonet_speed.py --device cuda --tf32 --channels-last --compile

    ``--steps`` defaults to 100 on the CPU and 500 on CUDA. The options used (``--channels-last``,
    ``--compile``, ``--tf32``, ``--cudnn-benchmark``) are stored with the figures in
    ``results/benchmarks/protonet_speed_<device type>.json`` (:func:`metalib.results.save_results`),
    together with the device, versions, thread count and git commit. Run it on a quiet machine: the
    figures are wall-clock times, and on the CPU another busy process makes PyTorch's threads wait
    for each other (``--threads 1`` then measures one core honestly).
"""
from __future__ import annotations

import argparse

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch

from metalib.backbones import Conv4
from metalib.metric import PrototypicalNetwork
from metalib.results import save_results
from timing import timed   # benchmarks/timing.py, beside this script

SETTINGS = {"5w1s": (5, 1), "20w5s": (20, 5)}   # name: (n_way, k_shot)
N_QUERY = 15


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: metalib.get_device())")
    p.add_argument("--steps", type=int, default=None, help="timed steps per setting (default: 100 CPU, 500 CUDA)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps before timing (default: 10)")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--channels-last", action="store_true", help="model weights in channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (model.compile())")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions (Ampere and later)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick the fastest conv algorithms")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for PyTorch (torch.set_num_threads; default: PyTorch's choice)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def build_model(device: torch.device, args: argparse.Namespace) -> tuple[PrototypicalNetwork, torch.optim.Optimizer]:
    model = PrototypicalNetwork(Conv4()).to(device)
    if args.channels_last:
        # The inputs have one channel; channels_last weights make cuDNN run every conv in NHWC.
        model = model.to(memory_format=torch.channels_last)
    if args.compile:
        model.compile()     # in place: model(...) and model.loss(...) both go through the compiled forward
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def bench_setting(train_split, n_way: int, k_shot: int, steps: int, device: torch.device,
                  args: argparse.Namespace) -> dict:
    metalib.seed_everything(args.seed, deterministic=False)
    sampler = metalib.EpisodeSampler(train_split, n_way, k_shot, N_QUERY, device=device, seed=args.seed)
    model, opt = build_model(device, args)
    model.train()

    def optimise(episode) -> torch.Tensor:
        loss = model.loss(episode, n_way=n_way)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def full_step() -> None:
        optimise(sampler.sample(1))

    fixed = sampler.sample(1)

    def model_step() -> None:
        optimise(fixed)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        full_step()
    t_total = timed(full_step, steps, device)
    t_model = timed(model_step, steps, device)
    final_loss = float(optimise(fixed).detach())
    return {
        "n_way": n_way, "k_shot": k_shot, "n_query": N_QUERY, "meta_batch": 1,
        "images_per_episode": n_way * (k_shot + N_QUERY), "steps": steps, "warmup": args.warmup,
        "seconds_total": t_total, "seconds_model": t_model,
        "episodes_per_s": steps / t_total, "model_episodes_per_s": steps / t_model,
        "outside_model_share": 1.0 - t_model / t_total,
        "peak_memory_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "final_loss": final_loss,
    }


def main() -> None:
    args = parse_args()
    device = metalib.get_device(args.device)
    steps = args.steps if args.steps is not None else (500 if device.type == "cuda" else 100)
    if steps < 1 or args.warmup < 0:
        raise SystemExit(f"--steps must be >= 1 and --warmup >= 0, got {steps} and {args.warmup}")
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    train_split = metalib.data.load("glyphs").split().train
    print(f"{train_split} on {device}, {steps} timed steps per setting after {args.warmup} warm-up steps")
    figures = {}
    for name in args.settings:
        n_way, k_shot = SETTINGS[name]
        figures[name] = bench_setting(train_split, n_way, k_shot, steps, device, args)

    options = {"channels_last": args.channels_last, "compile": args.compile, "tf32": args.tf32,
               "cudnn_benchmark": args.cudnn_benchmark}
    results = {
        "method": "PrototypicalNetwork(Conv4()), Adam lr 1e-3, squared Euclidean distance",
        "data": {"name": train_split.name, "classes": train_split.num_classes,
                 "image_size": list(train_split.image_size)},
        "options": options, "threads": torch.get_num_threads(), "seed": args.seed,
        "settings": figures,
    }
    path = save_results(f"benchmarks/protonet_speed_{device.type}", results, device)

    used = ", ".join(k for k, v in options.items() if v) or "none"
    print(f"\noptions: {used}")
    print(f"{'setting':8} {'episodes/s':>11} {'model ep/s':>11} {'outside model':>14} {'peak MiB':>9}")
    for name, f in figures.items():
        peak = f"{f['peak_memory_mib']:.0f}" if f["peak_memory_mib"] is not None else "-"
        print(f"{name:8} {f['episodes_per_s']:11.1f} {f['model_episodes_per_s']:11.1f} "
              f"{100 * f['outside_model_share']:13.1f}% {peak:>9}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
