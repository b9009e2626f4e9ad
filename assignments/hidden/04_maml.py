"""Hidden tests of assignment 04_maml (MAML's inner loop and meta-loss with torch.func).

The references below use torch.autograd with create_graph=True, not torch.func: an independent
computation of what the student writes with torch.func.grad and vmap.
"""
import torch

from grading.judge import Question, close, setup_namespace
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)

SETUP = setup_namespace("04_maml")


def reference_inner_loop(params, x, y, lr, steps):
    for _ in range(steps):
        grads = torch.autograd.grad(SETUP["loss"](params, x, y), list(params.values()), create_graph=True)
        params = {k: v - lr * g for (k, v), g in zip(params.items(), grads)}
    return params


def _params(generator):
    return {k: (v + 0.1 * torch.randn(v.shape, generator=generator)).detach() for k, v in SETUP["params"].items()}


def inputs_inner_loop(generator):
    return {"params": _params(generator), "x": torch.randn(6, 1, generator=generator),
            "y": torch.randn(6, 1, generator=generator), "xq": torch.randn(7, 1, generator=generator),
            "yq": torch.randn(7, 1, generator=generator)}


def probe_inner_loop(ns, inputs):
    import torch

    p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}
    two = attempt(ns["inner_loop"], p, inputs["x"], inputs["y"], 0.05, 2)
    zero = attempt(ns["inner_loop"], p, inputs["x"], inputs["y"], 0.05, 0)

    def meta_gradient():
        query = ns["loss"](two, inputs["xq"], inputs["yq"])
        return list(torch.autograd.grad(query, list(p.values())))

    return {"two_steps": two if not isinstance(two, dict) else {k: v.detach() for k, v in two.items()},
            "zero_steps": zero if not isinstance(zero, dict) else {k: v.detach() for k, v in zero.items()},
            "meta_gradient": attempt(meta_gradient)}


def checks_inner_loop(inputs, out, grade):
    p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}
    two = reference_inner_loop(p, inputs["x"], inputs["y"], 0.05, 2)
    meta = torch.autograd.grad(SETUP["loss"](two, inputs["xq"], inputs["yq"]), list(p.values()))
    grade.check(0.75, close(out["two_steps"], {k: v.detach() for k, v in two.items()}, atol=1e-5),
                "two steps of size 0.05 give the reference parameters",
                "take exactly `steps` steps params - lr * grad(loss)(params, x, y), on the support set")
    grade.check(0.25, close(out["zero_steps"], inputs["params"]),
                "steps = 0 returns the starting parameters", "with no step, return `params` as they are")
    grade.check(1, close(out["meta_gradient"], list(meta), atol=1e-5),
                "the query loss after two steps has the second-order gradient with respect to params",
                "do not detach anything and do not use torch.no_grad: the gradient must flow through "
                "the inner steps (a first-order version treats each step's gradient as a constant)")


def inputs_meta_loss(generator):
    def batch(b):
        return [torch.randn(b, 5, 1, generator=generator) for _ in range(4)]
    return {"params": _params(generator), "batch": batch(4), "small": batch(2), "large": batch(6)}


def probe_meta_loss(ns, inputs):
    import torch
    from torch.func import grad

    def inner_loop(params, x, y, lr, steps):   # question 1's answer, so that question 2 stands alone
        for _ in range(steps):
            grads = grad(ns["loss"])(params, x, y)
            params = {name: p - lr * grads[name] for name, p in params.items()}
        return params

    ns["inner_loop"] = inner_loop
    p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}
    value = attempt(ns["meta_loss"], p, *inputs["batch"], 0.1, 2)

    def meta_gradient():
        return list(torch.autograd.grad(ns["meta_loss"](p, *inputs["batch"], 0.1, 1), list(p.values())))

    return {"value": value.detach() if isinstance(value, torch.Tensor) else value,
            "meta_gradient": attempt(meta_gradient),
            "lines": [attempt(lines_run, ns["meta_loss"], inputs["params"], *inputs[size], 0.1, 1)
                      for size in ("small", "large")]}


def checks_meta_loss(inputs, out, grade):
    p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}

    def reference(xs, ys, xq, yq, steps):
        losses = [SETUP["loss"](reference_inner_loop(p, xs[b], ys[b], 0.1, steps), xq[b], yq[b])
                  for b in range(len(xs))]
        return torch.stack(losses).mean()

    value = reference(*inputs["batch"], 2)
    meta = torch.autograd.grad(reference(*inputs["batch"], 1), list(p.values()))
    right = grade.check(0.75, close(out["value"], value.detach(), atol=1e-5),
                        "the mean query loss over a batch of 4 tasks after 2 inner steps",
                        "adapt to each task on its own support set (xs[b], ys[b]), then average the "
                        "query losses over the tasks (a 0-dimensional tensor)")
    grade.check(0.75, close(out["meta_gradient"], list(meta), atol=1e-5),
                "its gradient with respect to params (second order, through the inner loop)",
                "return the loss as a tensor that is still a function of params: no .item(), "
                "no detach")
    grade.vectorised(0.5, right, out["lines"], "2 tasks", "6",
                     "map the per-task loss over the tasks with torch.func.vmap instead of a Python loop")


QUESTIONS = [
    Question("q1_inner_loop", 2, inputs_inner_loop, probe_inner_loop, checks_inner_loop),
    Question("q2_meta_loss", 2, inputs_meta_loss, probe_meta_loss, checks_meta_loss),
]
