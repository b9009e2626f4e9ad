"""Hidden tests of assignment 02_pcgrad (PCGrad's projection, and the update for 2 to 5 tasks).

Reference: the projection written out in float64, task by task, against the original rows in index
order, as the question states. The 4-task case is drawn so that projecting against all conflicting
tasks at once, or against already-projected rows, gives a different answer.
"""
import torch

from grading.judge import Question, close
from grading.runner import attempt, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)


def project(g, h):
    dot = g @ h
    return g - dot / (h @ h) * h if dot < 0 else g


def reference_pcgrad(grads):
    out = []
    for i in range(len(grads)):
        g = grads[i]
        for j in range(len(grads)):
            if j != i:
                g = project(g, grads[j])
        out.append(g)
    return torch.stack(out).sum(0)


def all_at_once(grads):
    """A common mistake: every conflicting component removed from the original g_i at once."""
    out = []
    for i in range(len(grads)):
        g = grads[i].clone()
        for j in range(len(grads)):
            if j != i and grads[i] @ grads[j] < 0:
                g = g - (grads[i] @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
        out.append(g)
    return torch.stack(out).sum(0)


def inputs_project(generator):
    g = torch.randn(6, dtype=torch.float64, generator=generator)
    return {"g": g, "against": -g + 0.3 * torch.randn(6, dtype=torch.float64, generator=generator),
            "along": g + 0.1 * torch.randn(6, dtype=torch.float64, generator=generator)}


def probe_project(ns, inputs):
    g = inputs["g"]
    return {"conflict": attempt(ns["project_conflict"], g, inputs["against"]),
            "no_conflict": attempt(ns["project_conflict"], g, inputs["along"])}


def checks_project(inputs, out, grade):
    g, h = inputs["g"], inputs["against"]
    grade.check(1.25, close(out["conflict"], g - (g @ h) / (h @ h) * h, atol=1e-9),
                "a conflicting pair (g . h < 0): g minus its component along h",
                "subtract (g . h) / |h|^2 times h; the component is along h, not g")
    grade.check(0.75, close(out["no_conflict"], g, atol=0), "a pair that does not conflict: g unchanged",
                "project only when g . h < 0")


def inputs_pcgrad(generator):
    g1 = torch.randn(8, dtype=torch.float64, generator=generator)
    g2 = -0.5 * g1 + torch.randn(8, dtype=torch.float64, generator=generator)
    if float(g1 @ g2) >= 0:
        g2 = g2 - 2 * (g1 @ g2) / (g1 @ g1) * g1
    while True:
        four = torch.randn(4, 5, dtype=torch.float64, generator=generator)
        if not torch.allclose(reference_pcgrad(four), all_at_once(four)):
            break
    return {"two": torch.stack([g1, g2]), "agree": torch.rand(3, 5, dtype=torch.float64, generator=generator),
            "four": four}


def probe_pcgrad(ns, inputs):
    def project_conflict(g, h):   # question 1's answer, so that question 2 stands alone
        dot = g @ h
        return g - dot / (h @ h) * h if dot < 0 else g

    ns["project_conflict"] = project_conflict
    return {k: attempt(ns["pcgrad"], inputs[k]) for k in ("two", "agree", "four")}


def checks_pcgrad(inputs, out, grade):
    grade.check(0.5, close(out["agree"], inputs["agree"].sum(0), atol=1e-9),
                "3 tasks with no conflict: the plain sum", "rows that do not conflict are not projected")
    grade.check(0.5, close(out["two"], reference_pcgrad(inputs["two"]), atol=1e-9),
                "2 conflicting tasks: the sum of the two projected gradients",
                "project each row against the other's original gradient, then sum the projected rows")
    grade.check(1, close(out["four"], reference_pcgrad(inputs["four"]), atol=1e-9),
                "4 tasks: each row projected against the others in turn, in index order",
                "start from g = grads[i] and apply g = project_conflict(g, grads[j]) for each j != i "
                "in increasing order, always against the original rows; removing all conflicting "
                "components from the original g_i at once is not the same for 3 or more tasks")


QUESTIONS = [
    Question("q1_project", 2, inputs_project, probe_project, checks_project),
    Question("q2_pcgrad", 2, inputs_pcgrad, probe_pcgrad, checks_pcgrad),
]
