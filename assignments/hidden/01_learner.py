"""Hidden tests of assignment 01_learner (the gradient of the mean squared error, gradient descent).

References: torch.autograd for the gradient, and the steps written out by hand in float64.
"""
import torch

from grading.judge import Question, close
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)


def inputs_gradient(generator):
    def data(k):
        return torch.randn(k, dtype=torch.float64, generator=generator), torch.randn(k, dtype=torch.float64,
                                                                                     generator=generator)
    w, b = torch.randn(2, dtype=torch.float64, generator=generator)
    return {"w": w, "b": b, "data": data(7), "small": data(5), "large": data(50)}


def probe_gradient(ns, inputs):
    w, b, (x, y) = inputs["w"], inputs["b"], inputs["data"]
    return {"gradient": attempt(lambda: list(ns["mse_gradient"](w, b, x, y))),
            "lines": [attempt(lines_run, ns["mse_gradient"], w, b, *inputs[k]) for k in ("small", "large")]}


def checks_gradient(inputs, out, grade):
    (x, y) = inputs["data"]
    w, b = inputs["w"].clone().requires_grad_(), inputs["b"].clone().requires_grad_()
    expected = torch.autograd.grad(((w * x + b - y) ** 2).mean(), [w, b])
    right = grade.check(1.5, close(out["gradient"], list(expected), atol=1e-9),
                        "(dw, db) equals autograd's gradient of the mean squared error on 7 points",
                        "dL/dw = 2 mean((w x + b - y) x) and dL/db = 2 mean(w x + b - y): check the "
                        "factor 2, the mean (not the sum), and the x in dL/dw")
    grade.vectorised(0.5, right, out["lines"], "5 points", "50",
                     "use tensor operations on the whole of x and y (mean, *), not a loop over the points")


def inputs_learner(generator):
    x = torch.randn(5, dtype=torch.float64, generator=generator)
    return {"x": x, "y": torch.randn(5, dtype=torch.float64, generator=generator),
            "start": torch.randn(2, dtype=torch.float64, generator=generator),
            "line": torch.linspace(-1, 1, 11, dtype=torch.float64)}


def probe_learner(ns, inputs):
    def mse_gradient(w, b, x, y):   # question 1's answer, so that question 2 stands alone
        residual = w * x + b - y
        return 2 * (residual * x).mean(), 2 * residual.mean()

    ns["mse_gradient"] = mse_gradient
    w0, b0 = inputs["start"]
    x, y, line = inputs["x"], inputs["y"], inputs["line"]
    return {"zero": attempt(lambda: list(ns["learner"](w0, b0, x, y, 0.05, 0))),
            "two": attempt(lambda: list(ns["learner"](w0, b0, x, y, 0.05, 2))),
            "fit": attempt(lambda: list(ns["learner"](w0 * 0, b0 * 0, line, -3 * line + 0.5, 0.3, 500)))}


def checks_learner(inputs, out, grade):
    (w, b), x, y = inputs["start"], inputs["x"], inputs["y"]
    for _ in range(2):
        r = w * x + b - y
        w, b = w - 0.05 * 2 * (r * x).mean(), b - 0.05 * 2 * r.mean()
    grade.check(0.5, close(out["zero"], list(inputs["start"])), "steps = 0 returns (w0, b0)",
                "with no step, return the start")
    grade.check(1, close(out["two"], [w, b], atol=1e-9), "two steps of size 0.05 from (w0, b0)",
                "each step is w - lr * dw, b - lr * db with the gradient at the current (w, b)")
    grade.check(0.5, close(out["fit"], [torch.tensor(-3.0, dtype=torch.float64),
                                        torch.tensor(0.5, dtype=torch.float64)], atol=1e-6),
                "500 steps of size 0.3 on y = -3 x + 0.5 reach w = -3, b = 0.5",
                "the loop must run `steps` times and return the final (w, b)")


QUESTIONS = [
    Question("q1_gradient", 2, inputs_gradient, probe_gradient, checks_gradient),
    Question("q2_learner", 2, inputs_learner, probe_learner, checks_learner),
]
