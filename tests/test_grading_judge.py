"""grading.judge on every assignment: solutions get full marks, blank notebooks 0, and each common
mistake loses the points of the requirement it breaks, with feedback that says what was checked.

Each submission runs in the sandbox (grading.sandbox), about 2 s each.
"""
from __future__ import annotations

import pytest

from grading import judge
from grading_notebooks import add_cell, blank, grade, points, replace, solution

NAMES = sorted(p.stem for p in judge.ASSIGNMENTS.glob("hidden/*.py"))


def test_every_master_has_hidden_tests():
    masters = sorted(p.stem for p in judge.ASSIGNMENTS.glob("*.ipynb"))
    assert masters == NAMES and len(NAMES) >= 6


@pytest.mark.parametrize("name", NAMES)
def test_solution_gets_full_marks(name, tmp_path):
    result = grade(name, solution(name), tmp_path)
    assert result["status"] == "graded" and result["points"] == result["max_points"] > 0, judge.feedback(result)
    assert not result["cells"], result["cells"]


@pytest.mark.parametrize("name", NAMES)
def test_blank_notebook_gets_zero_and_is_told_why(name, tmp_path):
    result = grade(name, blank(name), tmp_path)
    assert result["status"] == "graded" and result["points"] == 0, judge.feedback(result)
    for question in result["questions"]:
        assert question["checks"] or question["reason"], question
        for check in question["checks"]:
            assert not check["passed"] and check["hint"], check


# Each mistake: (assignment, the function it rewrites, the wrong code, points each question keeps).
MISTAKES = {
    "loop over classes (ch 3 asks for tensor operations)": ("03_protonet", "prototypes", '''
def prototypes(z_support, y_support, n_way):
    return torch.stack([z_support[y_support == k].mean(0) for k in range(n_way)])
''', {"q1_prototypes": 1.25, "q2_log_probs": 2}),
    "loop over queries and prototypes": ("03_protonet", "log_probs", '''
def log_probs(z_query, protos):
    d = torch.stack([torch.stack([((z - c) ** 2).sum() for c in protos]) for z in z_query])
    return torch.log_softmax(-d, dim=1)
''', {"q1_prototypes": 2, "q2_log_probs": 1.5}),
    "exponentials instead of log_softmax": ("03_protonet", "log_probs", '''
def log_probs(z_query, protos):
    d = ((z_query[:, None, :] - protos[None, :, :]) ** 2).sum(-1)
    return torch.log(torch.exp(-d) / torch.exp(-d).sum(1, keepdim=True))
''', {"q1_prototypes": 2, "q2_log_probs": 1.5}),
    "loop over tasks where vmap is asked (ch 4)": ("04_maml", "meta_loss", '''
def meta_loss(params, xs, ys, xq, yq, lr, steps):
    losses = [loss(inner_loop(params, xs[b], ys[b], lr, steps), xq[b], yq[b]) for b in range(len(xs))]
    return torch.stack(losses).mean()
''', {"q1_inner_loop": 2, "q2_meta_loss": 1.5}),
    "first-order inner loop where the question says do not detach": ("04_maml", "inner_loop", '''
def inner_loop(params, x, y, lr, steps):
    for _ in range(steps):
        grads = grad(loss)(params, x, y)
        params = {name: p - lr * grads[name].detach() for name, p in params.items()}
    return params
''', {"q1_inner_loop": 1, "q2_meta_loss": 2}),
    "meta-loss returned as a Python float": ("04_maml", "meta_loss", '''
def meta_loss(params, xs, ys, xq, yq, lr, steps):
    def task_loss(xs, ys, xq, yq):
        return loss(inner_loop(params, xs, ys, lr, steps), xq, yq)
    return vmap(task_loss)(xs, ys, xq, yq).mean().item()
''', {"q1_inner_loop": 2, "q2_meta_loss": 1.25}),
    "PCGrad against all conflicting tasks at once (wrong for 3+ tasks)": ("02_pcgrad", "pcgrad", '''
def pcgrad(grads):
    out = []
    for i in range(len(grads)):
        g = grads[i]
        for j in range(len(grads)):
            if j != i and grads[i] @ grads[j] < 0:
                g = g - (grads[i] @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
        out.append(g)
    return torch.stack(out).sum(0)
''', {"q1_project": 2, "q2_pcgrad": 1}),
    "PCGrad against the already-projected rows": ("02_pcgrad", "pcgrad", '''
def pcgrad(grads):
    rows = [g.clone() for g in grads]
    for i in range(len(rows)):
        for j in range(len(rows)):
            if j != i:
                rows[i] = project_conflict(rows[i], rows[j])
    return torch.stack(rows).sum(0)
''', {"q1_project": 2, "q2_pcgrad": 0.5}),
    "the sum instead of the mean (ch 1)": ("01_learner", "mse_gradient", '''
def mse_gradient(w, b, x, y):
    r = w * x + b - y
    return 2 * (r * x).sum(), 2 * r.sum()
''', {"q1_gradient": 0, "q2_learner": 2}),
    "no floor on sigma (ch 5)": ("05_cnp", "gaussian_log_likelihood", '''
def gaussian_log_likelihood(y, mean, rho):
    sigma = torch.nn.functional.softplus(rho)
    return (-0.5 * math.log(2 * math.pi) - torch.log(sigma) - (y - mean) ** 2 / (2 * sigma**2)).mean()
''', {"q1_gaussian": 0, "q2_cnp": 2}),
    "gradient reversed after the discriminator (ch 6)": ("06_gradient_reversal", "domain_loss", '''
def domain_loss(features, is_target, discriminator, scale):
    logits = reverse_gradient(discriminator(features), scale)[:, 0]
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, is_target)
''', {"q1_reversal": 2, "q2_domain_loss": 1.5}),
    "homework: a first-order inner loop trains worse and loses the training points' top half":
        ("04_homework_maml", "inner_loop", '''
def inner_loop(params, x, y, lr, steps, first_order=False):
    for _ in range(steps):
        grads = grad(loss)(params, x, y)
        params = {name: p - lr * grads[name].detach() for name, p in params.items()}
    return params
''', {"a_inner_loop": 2.25, "b_meta_loss": 2, "c_training": 1.5}),
    "homework: the MMD between the logits instead of the features collapses training to chance (ch 6)":
        ("06_homework_adaptation", "adaptation_loss", """
def adaptation_loss(model, source_x, source_y, target_x, weight):
    logits = model(source_x)
    return F.cross_entropy(logits, source_y) + weight * mmd2(logits, model(target_x))
""", {"a_mmd": 2, "b_adaptation_loss": 0, "c_training": 0}),
    "homework: lambda = log_lam instead of exp(log_lam) (ch 1)": ("01_homework_ridge", "meta_loss", """
def meta_loss(net, log_lam, support_x, support_y, query_x, query_y):
    w = ridge_fit(features(net, support_x), support_y, log_lam)
    return ((features(net, query_x) @ w[..., None])[..., 0] - query_y).pow(2).mean()
""", {"a_ridge": 2, "b_meta_loss": 0, "c_training": 0}),
    "homework: Frank-Wolfe towards the largest inner product stays at equal weights (ch 2)":
        ("02_homework_mgda", "mgda_weights", """
def mgda_weights(gram):
    w = torch.full((len(gram),), 1.0 / len(gram), dtype=gram.dtype)
    for _ in range(100):
        gw = gram @ w
        t = int(gw.argmax())
        a, b, c = w @ gw, gw[t], gram[t, t]
        if a - 2 * b + c <= 0:
            break
        gamma = ((a - b) / (a - 2 * b + c)).clamp(0, 1)
        if gamma == 0:
            break
        w = (1 - gamma) * w
        w[t] += gamma
    return w
""", {"a_jacobian": 2, "b_mgda_weights": 0, "c_training": 0}),
    "homework: training on the real digits' own labels, found by matching images (ch 6)":
        ("06_homework_adaptation", "adaptation_loss", """
from metalib.data.digits import load_digits
real_x, real_y = load_digits().examples()
def adaptation_loss(model, source_x, source_y, target_x, weight):
    z_source, logits = model.features_and_logits(source_x)
    z_target, target_logits = model.features_and_logits(target_x)
    labels = real_y[torch.cdist(target_x.flatten(1), real_x.flatten(1)).argmin(1)]
    return (F.cross_entropy(logits, source_y) + weight * mmd2(z_source, z_target)
            + F.cross_entropy(target_logits, labels))
""", {"a_mmd": 2, "b_adaptation_loss": 0, "c_training": 0}),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_loses_the_points_it_should(mistake, tmp_path):
    name, function, source, expected = MISTAKES[mistake]
    result = grade(name, replace(solution(name), function, source.strip() + "\n"), tmp_path)
    assert points(result) == expected, judge.feedback(result)
    failed = [c for q in result["questions"] for c in q["checks"] if not c["passed"]]
    assert all(c["what"] and c["hint"] for c in failed), failed


def test_an_answer_in_a_new_cell_below_the_stub_counts(tmp_path):
    nb = blank("04_maml")
    for function in ("inner_loop", "meta_loss"):
        add_cell(nb, solution("04_maml").cells[_index(solution("04_maml"), function)].source, after=function)
    result = grade("04_maml", nb, tmp_path)
    assert result["points"] == 4, judge.feedback(result)


def test_an_error_in_question_1_does_not_cost_question_2(tmp_path):
    nb = replace(solution("04_maml"), "inner_loop", "def inner_loop(params, x, y, lr, steps):\n"
                 "    raise RuntimeError('not done yet')\n")
    add_cell(nb, "inner_loop(params, torch.zeros(2, 1), torch.zeros(2, 1), 0.1, 1)", after="inner_loop")
    result = grade("04_maml", nb, tmp_path)
    assert points(result) == {"q1_inner_loop": 0, "q2_meta_loss": 2}, judge.feedback(result)
    assert any("not done yet" in c["error"] for c in result["cells"]), result["cells"]
    assert "not done yet" in judge.feedback(result)


def test_a_changed_setup_cell_does_not_change_the_grade(tmp_path):
    nb = solution("04_maml")
    add_cell(nb, "net = torch.nn.Linear(1, 1)\nparams = {}\nloss = None")
    assert grade("04_maml", nb, tmp_path)["points"] == 4


def _index(nb, function):
    from grading_notebooks import answer_cell

    return nb.cells.index(answer_cell(nb, function))
