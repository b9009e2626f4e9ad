"""Hidden tests of homework 02_homework_mgda (MGDA on four glyph tasks, one loss in the wrong units).

References: the Jacobian one task at a time with autograd in float64; MGDA's exact min-norm weights
by enumerating the faces of the simplex (the equality-constrained problem on each support, the
shortest feasible one kept). Part C trains with the submission's functions inside the sandbox and
predicts the test images in an order the judge draws; the labels never leave the judge.
"""
import itertools

import torch

from grading.judge import Question, close, setup_namespace
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)

SETUP = setup_namespace("02_homework_mgda")
TIME_LIMIT = 300
CELL_TIME = 180
PROBE_TIME = 120      # part C trains for 800 steps (a few seconds on one core)
# Measured as the judge grades (its draw of every question's inputs from one generator, seed 0),
# character accuracy on the 400 test images, one thread:
#   the solution, train(800, "mgda", WRONG_UNITS, seed=s) for s = 0..4:   0.188 0.175 0.188 0.193 0.173
#     (AVX2 settings, s = 0, 1: 0.190 0.178)
#   equal weighting, the same units, s = 0..2:                            0.055 0.055 0.045
#   chance is 1/40; 400 test images give a standard error of about 2 points,
# so 0.13 sits 4 points below the worst seed, and 0.09 well above equal weighting.
THRESHOLD = 0.13
HALF_THRESHOLD = 0.09
NORM_TOLERANCE = 5e-3  # Frank-Wolfe's 100 iterations: within 0.42% of the optimum on 300 random 4-task cases
MANUAL = [
    {"name": "d1_units", "points": 1.5, "rubric":
     "0.5: reads the table: with the factor, equal weighting's character score falls to a few percent "
     "(alphabet and pen fall too) while the rotation's error falls: it gets the trunk. 0.5: the trunk's gradient is the sum of the "
     "task gradients, so a 10^4 times longer rotation gradient sets its direction; the other tasks' "
     "contributions are noise on it. 0.5: Adam divides each parameter's step by its running gradient "
     "scale, which rescales the sum but does not change which task dominates the sum."},
    {"name": "d2_mgda", "points": 1.5, "rubric":
     "0.5: reads the table: MGDA's classification scores barely change with the factor. 0.5: the "
     "proof: conv(g1, g2, g3) is part of conv(g1, g2, g3, c g4) (put weight 0 on the fourth), so the "
     "shortest point of the larger hull is no longer than that of the smaller, for any c. 0.5: not "
     "invariant: the hull, and so d and the weights, change with c (a scaled gradient gets a weight "
     "about 1/c); what it guarantees is that the step cannot be taken over."},
    {"name": "d3_cost", "points": 1, "rubric":
     "0.5: reads the table (as written, MGDA about equal or slightly worse on some tasks: it is not "
     "a free improvement). 0.5: the cost: T gradients of the trunk (a Jacobian, T times the backward "
     "memory) and the Frank-Wolfe solve per step; worth paying when the losses' scales are unknown "
     "or conflict, not when equal weighting in sensible units works."},
]


def exact_weights(gram):
    """The min-norm weights on the simplex, face by face (exact for a few tasks)."""
    t, best = len(gram), None
    for r in range(1, t + 1):
        for face in itertools.combinations(range(t), r):
            face = list(face)
            m = torch.zeros(r + 1, r + 1, dtype=torch.float64)
            m[:r, :r], m[:r, r], m[r, :r] = gram[face][:, face], 1, 1
            rhs = torch.zeros(r + 1, dtype=torch.float64)
            rhs[r] = 1
            if torch.linalg.matrix_rank(m) < r + 1:
                continue
            solution = torch.linalg.solve(m, rhs)[:r]
            if (solution < -1e-12).any():
                continue
            w = torch.zeros(t, dtype=torch.float64)
            w[face] = solution
            value = w @ gram @ w
            if best is None or value < best[0]:
                best = (value, w)
    return best[1]


def inputs_jacobian(generator):
    def case(t, n):
        x = torch.randn(n, 3, generator=generator, dtype=torch.float64)
        weights = [torch.randn(3, 4, generator=generator, dtype=torch.float64),
                   torch.randn(4, generator=generator, dtype=torch.float64),
                   torch.randn(4, t, generator=generator, dtype=torch.float64)]
        return {"x": x, "weights": weights}
    return {"main": case(3, 5), "small": case(2, 4), "large": case(6, 4)}


def _losses(x, weights):
    """T losses of a small two-layer model: the mean of each output's square (the judge's function)."""
    hidden = torch.tanh(x @ weights[0] + weights[1])
    return ((hidden @ weights[2]) ** 2).mean(0)


def probe_jacobian(ns, inputs):
    import torch

    def run(case):
        weights = [w.clone().requires_grad_(True) for w in case["weights"]]
        hidden = torch.tanh(case["x"] @ weights[0] + weights[1])
        losses = ((hidden @ weights[2]) ** 2).mean(0)
        return ns["task_jacobian"](losses, weights)

    def lines(case):
        weights = [w.clone().requires_grad_(True) for w in case["weights"]]
        losses = ((torch.tanh(case["x"] @ weights[0] + weights[1]) @ weights[2]) ** 2).mean(0)
        return lines_run(ns["task_jacobian"], losses, weights)

    return {"main": attempt(run, inputs["main"]), "lines": [attempt(lines, inputs[k]) for k in ("small", "large")]}


def reference_jacobian(case):
    weights = [w.clone().requires_grad_(True) for w in case["weights"]]
    losses = _losses(case["x"], weights)
    return torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(loss, weights, retain_graph=True)])
                        for loss in losses])


def checks_jacobian(inputs, out, grade):
    right = grade.check(1.5, close(out["main"], reference_jacobian(inputs["main"]), atol=1e-9),
                        "3 losses of a two-layer model with 3 parameter tensors: the 3 x 31 Jacobian",
                        "row i holds d losses[i] / d params, every tensor flattened and concatenated in the "
                        "order of params; grad_outputs=torch.eye(T) with is_grads_batched=True")
    grade.vectorised(0.5, right, out["lines"], "2 tasks", "6 tasks",
                     "one torch.autograd.grad call with is_grads_batched=True computes every row at once")


def inputs_weights(generator):
    def gram(t, p, scales=None):
        j = torch.randn(t, p, generator=generator, dtype=torch.float64)
        if scales is not None:
            j = j * torch.tensor(scales, dtype=torch.float64)[:, None]
        return j @ j.T
    two = torch.tensor([[2.0, -1.0], [-1.0, 3.0]], dtype=torch.float64)
    return {"two": two, "four": gram(4, 6), "scaled": gram(4, 8, [1.0, 1.0, 1.0, 1e4]), "singular": gram(3, 2)}


def probe_weights(ns, inputs):
    return {k: attempt(ns["mgda_weights"], inputs[k]) for k in ("two", "four", "scaled", "singular")}


def _near_optimum(got, gram):
    if not isinstance(got, torch.Tensor) or got.shape != (len(gram),):
        return close(got, torch.zeros(len(gram), dtype=torch.float64))
    got = got.double()
    if not torch.isfinite(got).all():
        return False, f"the weights hold NaN or infinite values: {got.tolist()}"
    if (got < -1e-9).any() or abs(float(got.sum()) - 1) > 1e-6:
        return False, f"weights {[round(v, 4) for v in got.tolist()]}: not on the simplex (each >= 0, sum 1)"
    best = exact_weights(gram)
    value, optimum = float(got @ gram @ got), float(best @ gram @ best)
    gap = (value - optimum) / float(gram.diagonal().max())
    return gap <= NORM_TOLERANCE, f"|sum w_i g_i|^2 = {value:.6g}, the minimum is {optimum:.6g}"


def checks_weights(inputs, out, grade):
    grade.check(1, close(out["two"], exact_weights(inputs["two"]), atol=1e-6),
                "2 tasks: the closed form", "one Frank-Wolfe step with the exact line search reaches the optimum "
                "for two tasks; check the line search's gamma = (a - b) / (a - 2b + c), clipped to [0, 1]")
    grade.check(1, _near_optimum(out["four"], inputs["four"]),
                "4 tasks: non-negative weights summing to one whose combination is (nearly) the shortest",
                "t is the argmin of G w (the smallest inner product), not the argmax; move towards the vertex "
                "e_t: w = (1 - gamma) w + gamma e_t")
    grade.check(0.5, _near_optimum(out["scaled"], inputs["scaled"]),
                "4 tasks, one gradient 10^4 times longer", "no normalisation or rounding is needed; keep "
                "the whole computation in the Gram matrix's dtype")
    grade.check(0.5, _near_optimum(out["singular"], inputs["singular"]),
                "3 tasks whose gradients lie in a plane (a singular Gram matrix)",
                "stop when a - 2b + c <= 0 or gamma = 0 instead of dividing by zero")


def inputs_training(generator):
    """The 400 test images in an order of the judge's own."""
    order = torch.randperm(len(SETUP["test_set"]), generator=generator)
    return {"order": order, "_labels": SETUP["test_set"].targets["character"][order]}


def probe_training(ns, inputs):
    trunk, heads = ns["train"](800, method="mgda", units=ns["WRONG_UNITS"])
    return ns["predict"](trunk, heads, ns["test_set"].x[inputs["order"]])[0]


def checks_training(inputs, out, grade):
    grade.accuracy(3, out, inputs["_labels"], (HALF_THRESHOLD, THRESHOLD),
                   "MGDA, rotation's loss x 1e4, 800 steps: character",
                   ("check parts A and B (train must run with them): equal weighting reaches about 5% here, "
                    "so a run below 9% is usually one in which the rotation took the trunk over (weights "
                    "that are not the min-norm ones, e.g. argmax instead of argmin)",
                    "the weights must be MGDA's: compare yours with a brute-force minimum of w^T G w on a "
                    "few random Gram matrices"))


QUESTIONS = [
    Question("a_jacobian", 2, inputs_jacobian, probe_jacobian, checks_jacobian),
    Question("b_mgda_weights", 3, inputs_weights, probe_weights, checks_weights),
    Question("c_training", 3, inputs_training, probe_training, checks_training),
]
