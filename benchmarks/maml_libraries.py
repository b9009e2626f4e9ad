"""The same MAML in five libraries: do their meta-gradients agree, how fast is each, what does each hide?

What it runs
    Second-order MAML with one inner step (step size 0.4) on Finn et al.'s Omniglot network
    (``metalib.backbones.Conv4Classifier``, batch norm on batch statistics) and 5-way 1-shot glyph
    tasks (1 query per class), meta-batch 8, written five ways:

    - ``torch.func``: the plain version, ``grad`` inside ``vmap`` over tasks (the chapter derives it),
      on the network with its batch norms written out (``with_batch_statistics``);
    - ``metalib``: ``MAML(net, inner_lr=0.4).loss(episode)``;
    - ``learn2learn`` 0.2.0: ``clone()`` and ``adapt()`` per task, as its examples do;
    - ``higher`` 0.2.1: ``innerloop_ctx(net, SGD, copy_initial_weights=False)`` per task;
    - ``torchopt`` 0.7.3: ``MetaSGD`` per task with ``extract_state_dict`` / ``recover_state_dict``.

    Each library starts from a copy of one network and sees the same tasks.

What it measures
    ``float64``      each meta-gradient against the ``torch.func`` one on float64 copies: relative
                     difference ``|g - g_ref| / |g_ref|`` (round-off only: about 1e-15);
    ``tasks_per_s``  float32 meta-gradients (forward and backward, no optimiser step) per second, the
                     libraries alternating ``--repeats`` times so a slow moment hits each; the median;
    ``graph_mib``    the autograd graph held when one task's meta-loss is ready for backward
                     (:func:`metalib.profiling.graph_bytes`; None for ``torch.func``, whose ``grad``
                     refuses the saved-tensor hooks that count it);
    ``pitfalls``     measured facts a user meets: whether the network's batch-norm running statistics
                     change while the meta-gradient is computed; how far ``torch.func`` on
                     ``nn.BatchNorm2d`` itself lands from the exact meta-gradient (float64); what
                     ``higher``'s default (``copy_initial_weights=True``) leaves in ``.grad``;
    ``compile``      ``torch.compile`` on metalib's meta-gradient, second and first order: compile
                     seconds, tasks/s eager and compiled, the float32 difference from the eager
                     meta-gradient, or the error that stopped it (``--compile``).

How to run it (from the repository root, on a quiet machine)
    python benchmarks/maml_libraries.py --threads 1             # about 2 minutes
    python benchmarks/maml_libraries.py --threads 1 --compile   # adds torch.compile (several minutes)

    Results go to ``results/benchmarks/maml_libraries_<device type>.json`` with the device, versions,
    thread count and git commit (:func:`metalib.results.save_results`).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.metadata
import statistics
import time
import warnings

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, replace_all_batch_norm_modules_, vmap

from metalib.backbones import Conv4Classifier
from metalib.optimization import MAML
from metalib.optimization.batchnorm import with_batch_statistics
from metalib.profiling import graph_bytes
from metalib.results import save_results

N_WAY, K_SHOT, N_QUERY, META_BATCH, INNER_LR = 5, 1, 1, 8, 0.4
LIBRARIES = ("torch.func", "metalib", "learn2learn", "higher", "torchopt")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="alternating timed blocks per library")
    p.add_argument("--steps", type=int, default=3, help="meta-gradients per timed block")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile on metalib's meta-gradient")
    p.add_argument("--no-save", action="store_true", help="print only; store nothing")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


# -- the five meta-gradients: each returns the meta-loss (mean query loss over tasks), ready for backward
def torch_func_loss(net, episode, lr=INNER_LR):
    """MAML in torch.func: the inner step is ``grad`` of the support loss, vectorised over tasks."""
    params, buffers = dict(net.named_parameters()), dict(net.named_buffers())

    def loss(p, x, y):
        return F.cross_entropy(functional_call(net, (p, buffers), (x,)), y)

    def query_loss_after_step(p, sx, sy, qx, qy):
        g = grad(loss)(p, sx, sy)
        return loss({n: p[n] - lr * g[n] for n in p}, qx, qy)

    e = episode
    return vmap(query_loss_after_step, in_dims=(None, 0, 0, 0, 0))(
        params, e.support_x, e.support_y, e.query_x, e.query_y).mean()


def metalib_loss(maml, episode):
    return maml.loss(episode)


def learn2learn_losses(l2l_maml, episode):
    """One meta-loss per task (learn2learn adapts a clone per task)."""
    B = episode.support_x.shape[0]
    for b in range(B):
        learner = l2l_maml.clone()
        learner.adapt(F.cross_entropy(learner(episode.support_x[b]), episode.support_y[b]))
        yield F.cross_entropy(learner(episode.query_x[b]), episode.query_y[b]) / B


def higher_losses(net, episode, lr=INNER_LR, copy_initial_weights=False):
    import higher

    B = episode.support_x.shape[0]
    inner_opt = torch.optim.SGD(net.parameters(), lr=lr)
    for b in range(B):
        with higher.innerloop_ctx(net, inner_opt, copy_initial_weights=copy_initial_weights) as (fnet, diffopt):
            diffopt.step(F.cross_entropy(fnet(episode.support_x[b]), episode.support_y[b]))
            yield F.cross_entropy(fnet(episode.query_x[b]), episode.query_y[b]) / B


def torchopt_losses(net, episode, lr=INNER_LR):
    import torchopt

    B = episode.support_x.shape[0]
    inner_opt = torchopt.MetaSGD(net, lr=lr)
    start = torchopt.extract_state_dict(net, enable_visual=False)
    for b in range(B):
        inner_opt.step(F.cross_entropy(net(episode.support_x[b]), episode.support_y[b]))
        yield F.cross_entropy(net(episode.query_x[b]), episode.query_y[b]) / B
        torchopt.recover_state_dict(net, start)     # back to the initialisation for the next task


def make_libraries(net: torch.nn.Module) -> dict:
    """``{library: (module whose .grad holds the meta-gradient, losses)}``, each on its own copy of
    ``net``; ``losses(episode)`` yields the meta-loss in pieces (one, or one per task) whose backward
    passes add up to the meta-gradient (:func:`backward_all`)."""
    import learn2learn as l2l

    func_net = with_batch_statistics(net)      # batch norm written out: exact second derivatives under vmap
    maml = MAML(copy.deepcopy(net), inner_lr=INNER_LR)
    l2l_maml = l2l.algorithms.MAML(copy.deepcopy(net), lr=INNER_LR)
    higher_net, torchopt_net = copy.deepcopy(net), copy.deepcopy(net)
    return {
        "torch.func": (func_net, lambda e: iter([torch_func_loss(func_net, e)])),
        "metalib": (maml.model, lambda e: iter([metalib_loss(maml, e)])),
        "learn2learn": (l2l_maml.module, lambda e: learn2learn_losses(l2l_maml, e)),
        "higher": (higher_net, lambda e: higher_losses(higher_net, e)),
        "torchopt": (torchopt_net, lambda e: torchopt_losses(torchopt_net, e)),
    }


def backward_all(losses, episode) -> None:
    """Accumulate the meta-gradient of ``episode`` into the module's ``.grad``, piece by piece."""
    for loss in losses(episode):
        loss.backward()


def flat_grad(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in module.parameters()])


def gradients(net: torch.nn.Module, episode) -> dict:
    out = {}
    for name, (module, losses) in make_libraries(net).items():
        module.zero_grad(set_to_none=True)
        backward_all(losses, episode)
        out[name] = flat_grad(module)
    return out


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def graph_mib(net: torch.nn.Module, episode) -> dict:
    """The autograd graph held for one task's meta-loss, by library."""
    one = episode.task(0)
    out = {}
    for name, (_, losses) in make_libraries(net).items():
        try:
            loss, held = graph_bytes(lambda: next(losses(one)))
        except RuntimeError:        # torch.func.grad refuses saved-tensor hooks: not measurable this way
            out[name] = None
            continue
        loss.backward()
        out[name] = held / 2**20
    return out


def pitfalls(net: torch.nn.Module, episode) -> dict:
    """What happens to the network's batch-norm running statistics; torch.func on ``nn.BatchNorm2d``
    (``F.batch_norm``'s second derivative under ``vmap``: see metalib/optimization/batchnorm.py);
    higher's default. Call it with a float64 ``net`` and ``episode``."""
    out = {"running_stats_changed": {}}
    for name, (module, losses) in make_libraries(net).items():
        before = {n: b.clone() for n, b in module.named_buffers() if "running_mean" in n}
        backward_all(losses, episode)
        after = dict(module.named_buffers())
        out["running_stats_changed"][name] = (None if not before else
                                              any(not torch.equal(before[n], after[n]) for n in before))
    # torch.func with nn.BatchNorm2d itself (running statistics removed, as torch.func's docs advise)
    plain_bn = replace_all_batch_norm_modules_(copy.deepcopy(net))
    plain_bn.zero_grad(set_to_none=True)
    torch_func_loss(plain_bn, episode).backward()
    reference = with_batch_statistics(net)
    torch_func_loss(reference, episode).backward()
    out["torch_func_nn_batchnorm_relative_difference"] = relative(flat_grad(plain_bn), flat_grad(reference))
    default_net = copy.deepcopy(net)
    for loss in higher_losses(default_net, episode, copy_initial_weights=True):
        loss.backward()
    out["higher_default_grad_is_none"] = all(p.grad is None for p in default_net.parameters())
    return out


def time_libraries(net: torch.nn.Module, episode, repeats: int, steps: int) -> dict:
    libraries = make_libraries(net)
    seconds = {name: [] for name in libraries}
    for module, losses in libraries.values():     # warm-up
        backward_all(losses, episode)
    for _ in range(repeats):
        for name, (module, losses) in libraries.items():
            start = time.perf_counter()
            for _ in range(steps):
                module.zero_grad(set_to_none=True)
                backward_all(losses, episode)
            seconds[name].append(time.perf_counter() - start)
    B = episode.support_x.shape[0]
    return {name: B * steps / statistics.median(s) for name, s in seconds.items()}


def compiled_metalib(net: torch.nn.Module, episode, repeats: int, steps: int, first_order: bool) -> dict:
    """torch.compile on metalib's meta-gradient (forward and backward of ``MAML.loss``); the finiteness
    check of the inner loss is off in both, as it would break the compiled graph."""
    maml = MAML(copy.deepcopy(net), inner_lr=INNER_LR, first_order=first_order, check_finite=False)
    params = list(maml.model.parameters())

    def meta_gradient():
        return torch.autograd.grad(maml.loss(episode), params)

    eager = meta_gradient()
    torch._dynamo.reset()           # compile afresh: no cache from an earlier call of this function
    compiled = torch.compile(meta_gradient)
    start = time.perf_counter()
    try:
        first = compiled()
    except Exception as error:      # report, do not hide, a failure to compile
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
    compile_s = time.perf_counter() - start
    diff = relative(torch.cat([g.flatten() for g in first]), torch.cat([g.flatten() for g in eager]))
    rates = {"eager": [], "compiled": []}
    for _ in range(repeats):
        for name, fn in (("eager", meta_gradient), ("compiled", compiled)):
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            rates[name].append(time.perf_counter() - start)
    B = episode.support_x.shape[0]
    rate = {name: B * steps / statistics.median(s) for name, s in rates.items()}
    return {"compile_s": compile_s, "tasks_per_s": rate, "speedup": rate["compiled"] / rate["eager"],
            "float32_relative_difference": diff}


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning, module="higher")
    metalib.seed_everything(args.seed, deterministic=False)
    train_split = metalib.data.load("glyphs").split().train
    episode = metalib.EpisodeSampler(train_split, N_WAY, K_SHOT, N_QUERY, seed=args.seed).sample(META_BATCH)
    net = Conv4Classifier(N_WAY)

    double = dataclasses.replace(episode, support_x=episode.support_x.double(), query_x=episode.query_x.double())
    g64 = gradients(copy.deepcopy(net).double(), double)
    g32 = gradients(net, episode)
    agreement = {name: {"float64": relative(g64[name], g64["torch.func"]),
                        "float32": relative(g32[name], g32["torch.func"])} for name in LIBRARIES}
    for name, a in agreement.items():
        print(f"{name:12} meta-gradient vs torch.func: float64 {a['float64']:.1e}, float32 {a['float32']:.1e}")
    memory = graph_mib(net, episode)
    traps = pitfalls(copy.deepcopy(net).double(), double)
    rate = time_libraries(net, episode, args.repeats, args.steps)
    for name in LIBRARIES:
        print(f"{name:12} {rate[name]:7.1f} tasks/s   graph {memory[name] or float('nan'):6.2f} MiB per task   "
              f"BN running stats changed: {traps['running_stats_changed'][name]}")
    print(f"torch.func on nn.BatchNorm2d, float64: {traps['torch_func_nn_batchnorm_relative_difference']:.1e} off")
    print(f"higher with copy_initial_weights=True leaves .grad None: {traps['higher_default_grad_is_none']}")
    compiled = ({order: compiled_metalib(net, episode, args.repeats, args.steps, order == "first_order")
                 for order in ("second_order", "first_order")} if args.compile else None)
    for order, figures in (compiled or {}).items():
        print(f"torch.compile, {order}: {figures}")
    versions = {name: importlib.metadata.version(dist) for name, dist in
                (("learn2learn", "learn2learn"), ("higher", "higher"), ("torchopt", "torchopt"))}
    try:
        import torchopt._C  # noqa: F401  (its compiled optimiser kernels)
        versions["torchopt_compiled_ops"] = "loaded"
    except ImportError as error:
        reason = ("undefined symbol: built against another PyTorch" if "undefined symbol" in str(error)
                  else type(error).__name__)
        versions["torchopt_compiled_ops"] = f"not loaded ({reason})"
    results = {
        "model": "Conv4Classifier (Finn et al. Omniglot CNN, batch norm on batch statistics), 28x28 glyphs",
        "task": {"n_way": N_WAY, "k_shot": K_SHOT, "n_query": N_QUERY, "meta_batch": META_BATCH,
                 "inner_steps": 1, "inner_lr": INNER_LR, "second_order": True},
        "versions": versions, "threads": torch.get_num_threads(), "seed": args.seed,
        "repeats": args.repeats, "steps_per_block": args.steps,
        "agreement": agreement, "tasks_per_s": rate, "graph_mib_per_task": memory, "pitfalls": traps,
        "compile": compiled,
    }
    if not args.no_save:
        print(f"saved {save_results('benchmarks/maml_libraries_cpu', results, 'cpu')}")


if __name__ == "__main__":
    main()
