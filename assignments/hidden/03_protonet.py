"""Hidden tests of assignment 03_protonet (prototypes and log-probabilities, vectorised).

References: class means and distances computed one class and one query at a time in float64.
Vectorisation is measured by the lines of the student's code that run for a small and a large
episode: the same count for both means no Python loop over examples or classes.
"""
import torch

from grading.judge import Question, close
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)


def _episode(generator, n_way, shots, dim):
    y = torch.arange(n_way).repeat(shots)
    y = y[torch.randperm(len(y), generator=generator)]
    return torch.randn(len(y), dim, dtype=torch.float64, generator=generator), y


def inputs_prototypes(generator):
    z, y = _episode(generator, 4, 3, 3)
    return {"z": z, "y": y, "small": _episode(generator, 3, 2, 4), "large": _episode(generator, 20, 5, 4)}


def probe_prototypes(ns, inputs):
    small, large = inputs["small"], inputs["large"]
    return {"means": attempt(ns["prototypes"], inputs["z"], inputs["y"], 4),
            "lines": [attempt(lines_run, ns["prototypes"], small[0], small[1], 3),
                      attempt(lines_run, ns["prototypes"], large[0], large[1], 20)]}


def checks_prototypes(inputs, out, grade):
    z, y = inputs["z"], inputs["y"]
    expected = torch.stack([z[y == k].mean(0) for k in range(4)])
    right = grade.check(1.25, close(out["means"], expected, atol=1e-9),
                        "4 classes of 3 shuffled examples: row k is the mean of class k's embeddings",
                        "row k must average the rows of z_support whose label is k (labels are shuffled, "
                        "not grouped); divide by each class's count")
    grade.vectorised(0.75, right, out["lines"], "3 classes", "20",
                     "no loop or comprehension over classes: a one-hot matrix (torch.nn.functional.one_hot) "
                     "times z_support gives every class sum at once")


def inputs_log_probs(generator):
    def pair(q, n, scale=1.0):
        return (scale * torch.randn(q, 4, dtype=torch.float64, generator=generator),
                scale * torch.randn(n, 4, dtype=torch.float64, generator=generator))
    return {"plain": pair(7, 3), "far": pair(6, 4, 30.0), "small": pair(2, 2), "large": pair(40, 10)}


def probe_log_probs(ns, inputs):
    return {"plain": attempt(ns["log_probs"], *inputs["plain"]),
            "far": attempt(ns["log_probs"], *inputs["far"]),
            "lines": [attempt(lines_run, ns["log_probs"], *inputs[k]) for k in ("small", "large")]}


def reference(zq, c):
    d = torch.tensor([[float(((zq[i] - c[k]) ** 2).sum()) for k in range(len(c))] for i in range(len(zq))],
                     dtype=torch.float64)
    return -d - torch.logsumexp(-d, dim=1, keepdim=True)


def checks_log_probs(inputs, out, grade):
    right = grade.check(1, close(out["plain"], reference(*inputs["plain"]), atol=1e-9),
                        "7 queries, 3 prototypes: log-softmax of minus the squared distances",
                        "squared Euclidean distance (no square root), negated, then torch.log_softmax "
                        "over the prototypes (dim=1)")
    grade.check(0.5, close(out["far"], reference(*inputs["far"]), atol=1e-6),
                "far-apart points (exp(-d) underflows): still finite and right",
                "use torch.log_softmax on -d, not log(exp(-d) / sum exp(-d))")
    grade.vectorised(0.5, right, out["lines"], "2 queries and 2 prototypes", "40 and 10",
                     "broadcast: z_query[:, None, :] - protos[None, :, :] gives every difference at once")


QUESTIONS = [
    Question("q1_prototypes", 2, inputs_prototypes, probe_prototypes, checks_prototypes),
    Question("q2_log_probs", 2, inputs_log_probs, probe_log_probs, checks_log_probs),
]
