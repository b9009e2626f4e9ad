"""Five optimisation-based methods on real Omniglot: 5/20-way, 1/5-shot test accuracy.

What it reproduces
    The Omniglot tables of Finn et al. (2017, MAML, second order, and first-order MAML), Nichol et
    al. (2018, Reptile), Li et al. (2017, Meta-SGD) and Raghu et al. (2020, ANIL): mean accuracy with
    a 95% interval in 5-way 1-shot, 5-way 5-shot, 20-way 1-shot and 20-way 5-shot test tasks. Every
    method adapts Finn et al.'s Omniglot network, :class:`metalib.backbones.Conv4Classifier` (four
    3x3 convolutions of 64 filters with stride 2, batch norm with the statistics of the batch it
    sees, a spatial mean and a linear head).

    The data and the split are those of ``experiments/metric_omniglot.py`` (``omniglot_protocol.py``): the two
    *minimal* background archives of Omniglot (242 characters of 8 alphabets, 20 drawings each), each
    character turned by 0, 90, 180 and 270 degrees as a class of its own (968 classes), split by
    alphabet with ``split(fractions=(0.6, 0, 0.4), seed=0)``. The papers used all 1623 characters
    (1200 for training), so the figures are close to, not the same as, the published ones. The test
    tasks are drawn as in metric_omniglot.py (same sampler seed, 15 queries per class in 5-way
    tasks and 5 in 20-way tasks), so with the same ``--seed``, ``--eval-batch`` and device they are
    the first ``--episodes`` test tasks of that script: the metric and optimisation tables are
    scored on the same tasks.

Protocol
    One model per method and setting, trained on tasks of the test's way and shot (Reptile: see
    below), with ``--steps`` meta-iterations (Finn et al.: 60,000; their code's README: 40,000).

    MAML, first-order MAML, ANIL (Finn et al., 2017, Section 5.2 and Appendix A.1, as we read them):

    ===  ========  ===========  ==========  ==========  =======================
    way  inner lr  train steps  test steps  meta-batch  meta-optimiser
    ===  ========  ===========  ==========  ==========  =======================
    5    0.4       1            3           32          Adam, lr 1e-3, constant
    20   0.1       5            5           16          Adam, lr 1e-3, constant
    ===  ========  ===========  ==========  ==========  =======================

    Training tasks have ``shot`` queries per class (Finn et al.'s code draws ``2K`` drawings per
    class, ``K`` support and ``K`` query; ``--train-queries`` changes it). First-order MAML drops the
    second derivatives (Finn et al., Section 5.2); ANIL adapts only the linear head (Raghu et al.
    used MAML's hyper-parameters: so do we). Test: 3 (5-way) or 5 (20-way) steps, as in the paper's
    appendix (the code's default is 10).

    Meta-SGD (Li et al., 2017): the same network, meta-batch and Adam, **one** inner step in
    training and test (the paper's "one step"), every step size initialised to 0.4, MAML's 5-way
    step (*our choice*: Meta-SGD then starts as one-step MAML; Li et al. draw the initial step sizes
    at random in [0.005, 0.1], ``--metasgd-init uniform``).

    Reptile (Nichol et al., 2018, Appendix A, Omniglot column as we read it): 10 training shots
    per class whatever the test shot (so the 1-shot and 5-shot settings of a way share one model,
    trained once, ``model_from`` says which), 5 inner steps (5-way) or 10 (20-way), meta-batch 5,
    outer step 1.0 annealed linearly to 0 over ``--steps``, 50 inner steps at test. *Our choices*:
    the inner loop is plain gradient descent on the whole support set (metalib's
    :class:`~metalib.optimization.Reptile`), not Adam (lr 0.001) on minibatches of 10, with step
    ``--reptile-inner-lr`` (default 0.1, not tuned).

    The loss is the mean cross-entropy over a task's examples. *Uncertain*: Finn et al.'s code
    divides each example's cross-entropy by ``K`` and sums, an ``N`` times larger loss, so its
    inner step on the mean loss is ``N α`` (2.0 in both 5-way and 20-way); ``--loss-scale finn``
    multiplies the loss of MAML, first-order MAML, ANIL and Meta-SGD by the way to match it (Adam's
    meta-step barely depends on the scale). The default keeps the mean, as the paper's equations and
    most PyTorch ports (learn2learn) do.

    Test: ``--episodes`` tasks (Finn et al.: 600) from the test alphabets, adapted on the support
    set by the method's inner loop and scored on the queries, batch norm with batch statistics (the
    queries of a task form one batch, as in Finn et al.'s code). Initialisations are PyTorch's
    defaults (Finn et al.: Xavier for the convolutions). Reported: mean accuracy, its 95% interval,
    the meta-iterations and the training time.

How to run it
    On a GPU, at the full budget (60,000 meta-iterations, 600 test episodes per setting)::

        METALIB_BUDGET=full python experiments/optimization_omniglot.py

    A reduced CPU run, 5-way 1-shot only, stored under another name (15 to 20 minutes on 2 cores:
    one meta-iteration of 5-way 1-shot takes 0.25 s (ANIL) to 1 s (Reptile) on one core, of 5-way
    5-shot 1 to 4.5 s, of 20-way 5-shot up to 35 s (MAML); ``seconds_per_step`` in the results)::

        python experiments/optimization_omniglot.py --device cpu --settings 5w1s --steps 300 --episodes 200 --out optimization_omniglot_cpu

    The archives are read from ``--data`` (default: ``$METALIB_DATA``, else ``../shared/data/omniglot``
    beside the repository when it exists, else metalib's cache). Results go to
    ``results/<--out>.json`` (default ``optimization_omniglot``) through
    :func:`metalib.results.save_results`, rewritten after every (method, setting), so an interrupted
    run keeps what it finished.

    On several GPUs of one machine (or several CPU processes), each process adapting its part of
    every meta-batch and scoring its part of the test tasks (:mod:`metalib.distributed`)::

        METALIB_BUDGET=full torchrun --standalone --nproc_per_node 4 experiments/optimization_omniglot.py

    The meta-batches (32 and 16) and Reptile's (5) must split evenly over the processes.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))   # omniglot_protocol.py, however this is run

from metalib import budget, distributed  # noqa: E402
from metalib.backbones import Conv4Classifier  # noqa: E402
from metalib.optimization import ANIL, MAML, MetaSGD, Reptile  # noqa: E402
from metalib.results import save_results  # noqa: E402
from omniglot_protocol import SETTINGS, default_data, load_split, test_queries  # noqa: E402

METHODS = ("maml", "fomaml", "reptile", "metasgd", "anil")
NAMES = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile", "metasgd": "Meta-SGD",
         "anil": "ANIL"}
DRAWINGS = 20                   # drawings per Omniglot character
META_LR = 1e-3                  # Adam, constant (Finn et al.)
REPTILE = {"train_shot": 10, "meta_batch": 5, "test_steps": 50}   # Nichol et al., Omniglot


def method_config(method: str, way: int, shot: int, args: argparse.Namespace) -> dict:
    """Inner step, inner steps in training and test, meta-batch and training tasks of one method and way."""
    five = way <= 5
    if method == "reptile":
        return {"inner_lr": args.reptile_inner_lr, "train_steps": 5 if five else 10,
                "test_steps": REPTILE["test_steps"], "meta_batch": REPTILE["meta_batch"],
                "train_shot": REPTILE["train_shot"], "train_queries": 0, "outer_lr": args.reptile_outer_lr,
                "loss_scale": "mean"}
    config = {"inner_lr": 0.4 if five else 0.1, "train_steps": 1 if five else 5,
              "test_steps": 3 if five else 5, "meta_batch": 32 if five else 16, "train_shot": shot,
              "train_queries": args.train_queries or shot, "loss_scale": args.loss_scale}
    if method == "metasgd":
        config.update(inner_lr=0.4, train_steps=1, test_steps=1, init=args.metasgd_init)
    return config


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--steps", type=int, default=budget.pick(default=100, full=60_000),
                   help="meta-iterations per model (default: 100, full budget 60000)")
    p.add_argument("--episodes", type=int, default=budget.pick(default=100, full=600),
                   help="test episodes per setting (default: 100, full budget 600)")
    p.add_argument("--train-queries", type=int, default=None,
                   help="queries per class in training tasks (default: the shot, as in Finn et al.'s code)")
    p.add_argument("--loss-scale", choices=("mean", "finn"), default="mean",
                   help="mean cross-entropy, or the way times it as in Finn et al.'s code (not Reptile)")
    p.add_argument("--metasgd-init", choices=("constant", "uniform"), default="constant",
                   help="Meta-SGD's step sizes start at 0.4 (constant) or uniform in [0.005, 0.1] (Li et al.)")
    p.add_argument("--reptile-inner-lr", type=float, default=0.1, help="Reptile's inner gradient step")
    p.add_argument("--reptile-outer-lr", type=float, default=1.0,
                   help="Reptile's outer step at the start, annealed linearly to 0 (Nichol et al.: 1.0)")
    p.add_argument("--eval-batch", type=int, default=10, help="test tasks per forward pass")
    p.add_argument("--data", default=default_data(), help="folder holding Omniglot's minimal zip archives")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: metalib.get_device())")
    p.add_argument("--seed", type=int, default=0, help="seed of the models and samplers (the split uses 0)")
    p.add_argument("--out", default="optimization_omniglot", help="results name: results/<out>.json")
    args = p.parse_args()
    if min(args.steps, args.episodes, args.eval_batch) < 1:
        p.error("--steps, --episodes and --eval-batch must be >= 1")
    if args.train_queries is not None:
        most = DRAWINGS - max(SETTINGS[s][1] for s in args.settings)
        if not 1 <= args.train_queries <= most:
            p.error(f"--train-queries must be between 1 and {most}: shot + queries drawings of a "
                    f"character, and Omniglot has {DRAWINGS}")
    for name in ("reptile_inner_lr", "reptile_outer_lr"):
        value = getattr(args, name)
        if not 0 < value < float("inf"):
            p.error(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    return args


def make_learner(method: str, way: int, config: dict):
    """The method around a fresh Finn et al. Omniglot network for ``way`` classes."""
    net = Conv4Classifier(way)
    if config["loss_scale"] == "finn":
        def loss(scores, labels):       # Finn et al.'s code: sum of per-example cross-entropies / K
            return way * F.cross_entropy(scores, labels)
    else:
        loss = F.cross_entropy
    lr, steps = config["inner_lr"], config["train_steps"]
    if method == "maml":
        return MAML(net, lr, steps, first_order=False, loss=loss)
    if method == "fomaml":
        return MAML(net, lr, steps, first_order=True, loss=loss)
    if method == "anil":
        return ANIL(net.features, net.head, lr, steps, loss=loss)
    if method == "reptile":
        return Reptile(net, lr, steps)
    learner = MetaSGD(net, lr, steps, loss=loss)
    if config["init"] == "uniform":
        with torch.no_grad():
            for alpha in learner.lrs:
                alpha.uniform_(0.005, 0.1)
    return learner


def train_learner(method: str, learner, train, way: int, config: dict, args, device: torch.device,
                  desc: str, ranks: distributed.Ranks) -> dict:
    """Meta-train ``learner`` for ``args.steps`` meta-iterations; returns what was used. Under
    ``torchrun`` each process adapts its part of every meta-batch (:mod:`metalib.distributed`)."""
    sampler = metalib.EpisodeSampler(train, way, config["train_shot"], config["train_queries"], device=device,
                                     seed=args.seed)
    learner.train()
    if method == "reptile":
        outer = config["outer_lr"]

        def step(i: int) -> torch.Tensor:
            ep = ranks.shard(sampler.sample(config["meta_batch"]))
            with torch.no_grad():   # for the progress bar and the NaN check: θ's loss on the support sets
                before = learner.loss(SimpleNamespace(support_x=ep.support_x, support_y=ep.support_y,
                                                      query_x=ep.support_x, query_y=ep.support_y), steps=0)
            learner.meta_step(ep.support_x, ep.support_y, outer_lr=outer * (1 - i / args.steps))
            ranks.average_parameters(learner)     # θ + ε (mean φ - θ) over the whole meta-batch
            return ranks.mean(before)
        kind = "loss of the initialisation on the support sets, before each meta-step"
    else:
        optimizer = torch.optim.Adam(learner.parameters(), lr=META_LR)

        def step(i: int) -> torch.Tensor:
            loss = learner.loss(ranks.shard(sampler.sample(config["meta_batch"])))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            ranks.average_gradients(learner.parameters())
            optimizer.step()
            return ranks.mean(loss.detach())
        kind = "query loss after adaptation (the meta-objective)"
    losses = metalib.train(step, args.steps, desc=desc, progress=None if ranks.main else False)
    last = losses[-50:]
    return {"train_loss_last50": sum(last) / len(last), "train_loss": kind}


def test_learner(learner, test, way: int, shot: int, setting_index: int, steps: int, args,
                 device: torch.device, ranks: distributed.Ranks):
    """Accuracy over ``args.episodes`` test tasks, the tasks of metric_omniglot.py for this setting."""
    sampler = metalib.EpisodeSampler(test, way, shot, test_queries(way), device=device,
                                     seed=10_000 + 100 * args.seed + setting_index)
    learner.eval()

    def predict(support_x, support_y, query_x):
        # The inner loop needs gradients (no torch.no_grad here); no meta-gradient is needed, so the
        # steps are first order: the same adapted weights, without the graph of the second derivatives.
        params = learner.adapt(support_x, support_y, steps=steps, first_order=True)
        return learner.predict(params, query_x).detach()

    return metalib.evaluate(predict, sampler, episodes=args.episodes, batch_size=args.eval_batch, ranks=ranks)


def protocol(args, device: torch.device) -> dict:
    return {
        "steps": args.steps, "budget": budget.name(), "seed": args.seed, "deterministic": device.type == "cpu",
        "network": "Conv4Classifier: 4 x (3x3 conv, 64 filters, stride 2, batch norm with batch statistics, "
                   "ReLU), spatial mean, linear head (Finn et al., 2017); PyTorch's default initialisation",
        "meta_optimizer": f"Adam lr {META_LR}, constant (Reptile: outer step {args.reptile_outer_lr} annealed "
                          f"linearly to 0)",
        "maml_fomaml_anil": {"5-way": {"inner_lr": 0.4, "train_steps": 1, "test_steps": 3, "meta_batch": 32},
                             "20-way": {"inner_lr": 0.1, "train_steps": 5, "test_steps": 5, "meta_batch": 16}},
        "metasgd": {"inner_lr_init": "0.4 everywhere" if args.metasgd_init == "constant"
                    else "uniform in [0.005, 0.1]", "train_steps": 1, "test_steps": 1,
                    "meta_batch": {"5-way": 32, "20-way": 16}},
        "reptile": {"inner": f"plain gradient descent on the whole support set, lr {args.reptile_inner_lr}",
                    "train_shot": REPTILE["train_shot"], "train_steps": {"5-way": 5, "20-way": 10},
                    "test_steps": REPTILE["test_steps"], "meta_batch": REPTILE["meta_batch"],
                    "outer_lr": f"{args.reptile_outer_lr} annealed linearly to 0"},
        "train_queries": args.train_queries or "the shot (Finn et al.'s code)",
        "loss": "mean cross-entropy" if args.loss_scale == "mean" else
                "way x mean cross-entropy (Finn et al.'s code), not for Reptile",
        "test_episodes": args.episodes, "test_queries": {"5-way": test_queries(5), "20-way": test_queries(20)},
        "test_tasks": "those of metric_omniglot.py (same split, sampler seed, queries; same --eval-batch)",
        "eval_batch": args.eval_batch,
        "test_batch_norm": "batch statistics of the support set (inner loop) and of the query set (scores)",
    }


def main() -> None:
    args = parse_args()
    ranks, device = distributed.setup(args.device)
    launcher = f"torchrun --nproc_per_node {ranks.world_size}" if ranks.world_size > 1 else "python"
    command = (f"METALIB_BUDGET={budget.name()} {launcher} experiments/optimization_omniglot.py "
               f"{shlex.join(sys.argv[1:])}").strip()
    say = print if ranks.main else (lambda *a, **k: None)
    say(f"{budget.name()} budget on {device}: {args.steps} meta-iterations, {args.episodes} test episodes "
          f"per setting")
    train, test, split = load_split(args.data)
    results = {"split": split, "protocol": protocol(args, device), "methods": {}}
    trained: dict[tuple, tuple] = {}    # Reptile's 1-shot and 5-shot settings of a way share one model
    for method in args.methods:
        for index, setting in enumerate(SETTINGS):
            if setting not in args.settings:
                continue
            way, shot = SETTINGS[setting]
            config = method_config(method, way, shot, args)
            key = (method, way, tuple(sorted((k, str(v)) for k, v in config.items())))
            start = time.perf_counter()
            if key in trained:
                learner, used, model_from = trained[key]
            else:
                metalib.seed_everything(args.seed, deterministic=device.type == "cpu")
                learner = make_learner(method, way, config).to(device)
                begun = time.perf_counter()
                used = train_learner(method, learner, train, way, config, args, device,
                                     desc=f"{NAMES[method]} {way}w{config['train_shot']}s", ranks=ranks)
                used["train_seconds"] = time.perf_counter() - begun
                used["seconds_per_step"] = used["train_seconds"] / args.steps
                model_from = setting
                trained[key] = (learner, used, model_from)
            tested = time.perf_counter()
            accuracy = test_learner(learner, test, way, shot, index, config["test_steps"], args, device, ranks)
            done = time.perf_counter()
            results["methods"].setdefault(method, {})[setting] = {
                "mean": accuracy.mean, "ci95": accuracy.ci95, "n": accuracy.n, "steps": args.steps,
                "train_seconds": used["train_seconds"], "seconds_per_step": used["seconds_per_step"],
                "test_seconds": done - tested, "model_from": model_from,
                "train_loss_last50": used["train_loss_last50"], "train_loss": used["train_loss"],
                "test_queries": test_queries(way), **config}
            path = save_results(args.out, results, device, command=command)
            note = "" if model_from == setting else f", model of {model_from}"
            say(f"{method:8} {setting:6} {accuracy.percent()}  ({done - start:.0f} s{note})  -> {path}")


if __name__ == "__main__":
    main()
    distributed.teardown()
