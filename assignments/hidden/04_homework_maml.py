"""Hidden tests of homework 04_homework_maml (MAML on Omniglot: inner loop, meta-loss, training, study).

References: the inner loop with torch.autograd (create_graph for second order, detached gradients
for first order), in float64 on the homework's own network. Part C meta-trains with the
submission's code inside the sandbox and classifies held-out tasks the judge draws from the test
alphabets; the query labels never leave the judge. Its thresholds were measured with the solution
over seeds 0-4 at the grading length (150 steps, one thread): see THRESHOLD below.
"""
import torch

from grading.judge import Question, close, held_out_tasks, setup_namespace
from grading.runner import attempt, images_at, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)

SETUP = setup_namespace("04_homework_maml")
TIME_LIMIT = 420      # the notebook at its grading length (GRADING=1: 20 steps a run)
CELL_TIME = 240
PROBE_TIME = 240      # part C trains for 150 steps
NEEDS_DATA = "omniglot"
# Measured as the judge grades (its draw of every question's inputs from one generator, seed 0), one
# thread:
#   the solution, train(150, seed=s) for s = 0..4:   0.643 0.691 0.570 0.647 0.639 (min 0.570)
#   (0.577-0.686 on another draw of the same size)
#   a first-order meta-gradient, s = 0..2, on that other draw: 0.457 0.458 0.444 (graded below 0.50
#   at seed 0 by tests/test_grading_judge.py)
# so 0.50 separates them with a margin for other processors' round-off.
THRESHOLD = 0.50
HALF_THRESHOLD = 0.35
MANUAL = [
    {"name": "d1_cost", "points": 1, "rubric":
     "1: a ratio from their table (about 1.2-1.5x here) and the reason: the backward pass through the "
     "inner step (Hessian-vector products through the support loss). 0.5: ratio without a reason, or "
     "reason without their number."},
    {"name": "d2_first_order", "points": 1.5, "rubric":
     "0.5: states what their numbers show (first order lower, here by 10-20 points at 400 steps). "
     "0.5: names the dropped term (the Jacobian of the adapted parameters, I - alpha times the "
     "support Hessian, replaced by I). 0.5: why it can still work (the gradient at the adapted "
     "parameters still points downhill for the query loss; the term is small for small alpha)."},
    {"name": "d3_inner_steps", "points": 1.5, "rubric":
     "0.5: what 3 training steps changed in their runs (cost about 3x; accuracy). 0.5: that testing "
     "with more steps than meta-trained for can hurt (the initialisation is tuned for one step of "
     "size alpha). 0.5: a noise argument with a number (per-query SE near 0.006 for 3,000 queries; "
     "queries of one task are correlated, so the real SE is larger; one seed)."},
]


def _params(generator):
    net = SETUP["make_net"]()
    return {k: (v.detach().double() + 0.05 * torch.randn(v.shape, generator=generator, dtype=torch.float64))
            for k, v in net.named_parameters()}


def _net():
    return SETUP["net"].double()


def _loss(params, x, y):
    return torch.nn.functional.cross_entropy(torch.func.functional_call(_net(), params, (x,)), y)


def reference_inner_loop(params, x, y, lr, steps, first_order):
    for _ in range(steps):
        grads = torch.autograd.grad(_loss(params, x, y), list(params.values()), create_graph=not first_order)
        params = {k: v - lr * g for (k, v), g in zip(params.items(), grads)}
    return params


def _task(generator, n=5, k=1, q=3):
    return {"xs": torch.rand(n * k, 1, 28, 28, generator=generator, dtype=torch.float64),
            "ys": torch.arange(n).repeat_interleave(k),
            "xq": torch.rand(n * q, 1, 28, 28, generator=generator, dtype=torch.float64),
            "yq": torch.arange(n).repeat_interleave(q)}


def inputs_inner_loop(generator):
    return {"params": _params(generator), **_task(generator)}


def probe_inner_loop(ns, inputs):
    import torch

    ns["net"] = ns["net"].double()

    def run(first_order):
        p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}
        adapted = ns["inner_loop"](p, inputs["xs"], inputs["ys"], 0.1, 2, first_order)
        query = ns["loss"](adapted, inputs["xq"], inputs["yq"])
        grads = torch.autograd.grad(query, list(p.values()))
        return [{k: v.detach() for k, v in adapted.items()}, list(grads)]

    return {"second": attempt(run, False), "first": attempt(run, True)}


def checks_inner_loop(inputs, out, grade):
    expected = {}
    for first_order in (False, True):
        p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}
        adapted = reference_inner_loop(p, inputs["xs"], inputs["ys"], 0.1, 2, first_order)
        grads = torch.autograd.grad(_loss(adapted, inputs["xq"], inputs["yq"]), list(p.values()))
        expected[first_order] = [{k: v.detach() for k, v in adapted.items()}, list(grads)]
    second, first = out["second"], out["first"]
    part = (lambda value, i: value[i] if isinstance(value, list) else value)
    grade.check(1, close(part(second, 0), expected[False][0], atol=1e-8),
                "two steps of size 0.1 on a 5-way 1-shot support set give the reference parameters",
                "each step is params - lr * grad(loss)(params, x, y), on the support set only")
    grade.check(0.75, close(part(second, 1), expected[False][1], atol=1e-8),
                "first_order=False: the query loss has the second-order gradient with respect to params",
                "do not detach anything when first_order is False")
    grade.check(0.5, close(part(first, 0), expected[True][0], atol=1e-8),
                "first_order=True: the same adapted parameters", "first order changes the gradient, not the step")
    grade.check(0.75, close(part(first, 1), expected[True][1], atol=1e-8),
                "first_order=True: the gradient is the first-order one (each step's gradient a constant)",
                "detach each step's gradient (grads[name].detach()), not the parameters: the meta-gradient "
                "must still reach params through the identity")


def inputs_meta_loss(generator):
    def batch(b):
        tasks = [_task(generator) for _ in range(b)]
        return {key: torch.stack([t[key] for t in tasks]) for key in ("xs", "ys", "xq", "yq")}
    return {"params": _params(generator), "batch": batch(3), "small": batch(2), "large": batch(5)}


def probe_meta_loss(ns, inputs):
    import types

    import torch
    from torch.func import grad

    ns["net"] = ns["net"].double()

    def inner_loop(params, x, y, lr, steps, first_order=False):   # part A's answer: part B stands alone
        for _ in range(steps):
            grads = grad(ns["loss"])(params, x, y)
            if first_order:
                grads = {k: g.detach() for k, g in grads.items()}
            params = {k: p - lr * grads[k] for k, p in params.items()}
        return params

    ns["inner_loop"] = inner_loop

    def episode(b):
        return types.SimpleNamespace(support_x=b["xs"], support_y=b["ys"], query_x=b["xq"], query_y=b["yq"])

    p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}

    def value_and_gradient():
        value = ns["meta_loss"](p, episode(inputs["batch"]), 0.1, 1)
        return [value.detach(), list(torch.autograd.grad(value, list(p.values())))]

    return {"value": attempt(value_and_gradient),
            "lines": [attempt(lines_run, ns["meta_loss"], inputs["params"], episode(inputs[k]), 0.1, 1)
                      for k in ("small", "large")]}


def checks_meta_loss(inputs, out, grade):
    p = {k: v.clone().requires_grad_() for k, v in inputs["params"].items()}
    b = inputs["batch"]
    value = torch.stack([_loss(reference_inner_loop(p, b["xs"][i], b["ys"][i], 0.1, 1, False), b["xq"][i], b["yq"][i])
                         for i in range(len(b["xs"]))]).mean()
    gradient = torch.autograd.grad(value, list(p.values()))
    got = out["value"]
    right = grade.check(0.75, close(got[0] if isinstance(got, list) else got, value.detach(), atol=1e-8),
                        "the mean query loss over 3 tasks after one inner step",
                        "adapt to each task on its own support set, then average the query losses")
    grade.check(0.75, close(got[1] if isinstance(got, list) else got, list(gradient), atol=1e-8),
                "its second-order gradient with respect to params",
                "return the loss as a tensor that is still a function of params")
    grade.vectorised(0.5, right, out["lines"], "2 tasks", "5",
                     "map the per-task loss over the tasks with torch.func.vmap instead of a Python loop")


def inputs_training(generator):
    """Held-out 5-way 1-shot tasks of the test alphabets (indices into test_set, queries shuffled)."""
    return held_out_tasks(SETUP["test_set"], generator, tasks=40, n_way=5, k_shot=1, n_query=10)


def probe_training(ns, inputs):
    params, _ = ns["train"](150)
    images = ns["test_set"].images
    return ns["predict"](params, images_at(images, inputs["support"]), inputs["support_y"],
                         images_at(images, inputs["query"])).argmax(-1)


def checks_training(inputs, out, grade):
    grade.accuracy(3, out, inputs["_labels"], (HALF_THRESHOLD, THRESHOLD), "after 150 meta-training steps",
                   ("check parts A and B (train(150) must run with them): a run that does not learn usually "
                    "has a wrong sign, a missing mean, or an inner loop that ignores the support set",
                    "a first-order or detached meta-gradient, or a loop that does not adapt each task on its "
                    "own support set, learns more slowly"))


QUESTIONS = [
    Question("a_inner_loop", 3, inputs_inner_loop, probe_inner_loop, checks_inner_loop),
    Question("b_meta_loss", 2, inputs_meta_loss, probe_meta_loss, checks_meta_loss),
    Question("c_training", 3, inputs_training, probe_training, checks_training),
]
