"""Hidden tests of homework 03_homework_protonet (Prototypical Networks on Omniglot, batched over tasks).

References: class means and distances computed one task, class and query at a time in float64.
Part C meta-trains with the submission's episode_loss inside the sandbox and classifies held-out
tasks the judge draws from the test alphabets; the query labels never leave the judge.
"""
import torch

from grading.judge import Question, close, held_out_tasks, setup_namespace
from grading.runner import attempt, images_at, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)

SETUP = setup_namespace("03_homework_protonet")
TIME_LIMIT = 300
CELL_TIME = 180
PROBE_TIME = 180
NEEDS_DATA = "omniglot"
# Measured as the judge grades (its draw of every question's inputs from one generator, seed 0), one
# thread:
#   the solution, train(150, seed=s) for s = 0..4:   0.685 0.691 0.729 0.730 0.692 (min 0.685)
#   (0.704-0.739 on another draw of 60 tasks)
# so 0.60 leaves an 8-point margin below the solution for other processors' round-off. (Plain,
# unsquared distances train as well or better here, 0.740 and 0.852 at seeds 0-1: part B, not C,
# is where that departure from the question loses points.)
THRESHOLD = 0.60
HALF_THRESHOLD = 0.40
MANUAL = [
    {"name": "d1_shots", "points": 1.5, "rubric":
     "0.5: the gain from 1 to 5 test shots for each embedding, from their table (large, 10-20 points "
     "here). 1: averaging 5 embeddings cancels much of each drawing's own variation, so the prototype "
     "is closer to the class's mean and the nearest-prototype boundary is better placed; one drawing "
     "can be atypical."},
    {"name": "d2_train_shots", "points": 1.5, "rubric":
     "0.5: reads both columns correctly. 0.5: relates to Snell et al.'s observation (matching or "
     "exceeding the test shot at training). 0.5: judges noise: with one seed and 200 tasks x 50 "
     "queries, differences of a point or two are not distinguishable (correlated queries, one seed)."},
    {"name": "d3_linear", "points": 1, "rubric":
     "1: -|z - c_k|^2 = -z.z + 2 c_k.z - c_k.c_k; -z.z is the same for every k, so the logits are "
     "linear in z with weights 2 c_k and bias -|c_k|^2. 0.5 for the expansion without the conclusion."},
]


def reference_prototypes(z, y, n_way):
    return torch.stack([torch.stack([z[b][y[b] == k].mean(0) for k in range(n_way)]) for b in range(len(z))])


def _support(generator, b, s, n, d):
    y = torch.stack([torch.cat([torch.arange(n), torch.randint(0, n, (s - n,), generator=generator)])
                     [torch.randperm(s, generator=generator)] for _ in range(b)])
    return torch.randn(b, s, d, dtype=torch.float64, generator=generator), y


def inputs_prototypes(generator):
    return {"main": [*_support(generator, 3, 12, 4, 5), 4], "small": [*_support(generator, 1, 3, 3, 5), 3],
            "large": [*_support(generator, 6, 60, 20, 5), 20]}


def probe_prototypes(ns, inputs):
    return {"main": attempt(ns["prototypes"], *inputs["main"]),
            "lines": [attempt(lines_run, ns["prototypes"], *inputs[k]) for k in ("small", "large")]}


def checks_prototypes(inputs, out, grade):
    right = grade.check(1.5, close(out["main"], reference_prototypes(*inputs["main"]), atol=1e-10),
                        "3 tasks of 12 shuffled support embeddings, 4 classes: each task's class means",
                        "row k of task b averages task b's embeddings labelled k; labels are shuffled and "
                        "classes have different counts, so divide by each class's own count")
    grade.vectorised(0.5, right, out["lines"], "1 task of 3 classes", "6 tasks of 20",
                     "one_hot(y_support, n_way), transposed, times z_support gives every class sum of every "
                     "task at once (a batched matrix product)")


def inputs_episode_loss(generator):
    def images(b, m):
        return torch.rand(b, m, 1, 28, 28, generator=generator, dtype=torch.float64)
    sy = torch.stack([torch.arange(5).repeat(2)[torch.randperm(10, generator=generator)] for _ in range(2)])
    qy = torch.stack([torch.arange(5).repeat(3)[torch.randperm(15, generator=generator)] for _ in range(2)])
    embedding = SETUP["make_embedding"]().double()
    weights = {k: v + 0.05 * torch.randn(v.shape, generator=generator, dtype=torch.float64)
               for k, v in embedding.state_dict().items()}
    return {"weights": weights, "support_x": images(2, 10), "support_y": sy, "query_x": images(2, 15),
            "query_y": qy}


def probe_episode_loss(ns, inputs):
    import torch
    import torch.nn.functional as F

    def prototypes(z_support, y_support, n_way):   # part A's answer, so that part B stands alone
        one_hot = F.one_hot(y_support, n_way).to(z_support.dtype)
        return one_hot.transpose(1, 2) @ z_support / one_hot.sum(1)[..., None]

    ns["prototypes"] = prototypes
    embedding = ns["make_embedding"]().double()
    embedding.load_state_dict(inputs["weights"])

    def run():
        value = ns["episode_loss"](embedding, inputs["support_x"], inputs["support_y"], inputs["query_x"],
                                   inputs["query_y"])
        return [value.detach(), list(torch.autograd.grad(value, list(embedding.parameters())))]

    return attempt(run)


def checks_episode_loss(inputs, out, grade):
    embedding = SETUP["make_embedding"]().double()
    embedding.load_state_dict(inputs["weights"])
    losses = []
    for b in range(len(inputs["support_x"])):
        zs, zq = embedding(inputs["support_x"][b]), embedding(inputs["query_x"][b])
        protos = torch.stack([zs[inputs["support_y"][b] == k].mean(0) for k in range(5)])
        d = torch.stack([((zq - c) ** 2).sum(1) for c in protos], 1)
        losses.append(torch.nn.functional.cross_entropy(-d, inputs["query_y"][b], reduction="none"))
    value = torch.cat(losses).mean()
    gradient = torch.autograd.grad(value, list(embedding.parameters()))
    loss, grads = (out[0], out[1]) if isinstance(out, list) else (out, out)
    grade.check(2, close(loss, value.detach(), atol=1e-8),
                "2 tasks, 2 shots and 3 queries per class: the mean cross-entropy of -squared distances",
                "logits are minus the squared Euclidean distances (no square root) to the prototypes of the "
                "query's own task; average over every query of every task")
    grade.check(1, close(grads, list(gradient), atol=1e-8),
                "its gradient with respect to the embedding's parameters",
                "keep the loss a function of the embedding: no detach, no torch.no_grad, no .item()")


def inputs_training(generator):
    """Held-out 5-way 1-shot tasks of the test alphabets (indices into test_set, queries shuffled)."""
    return held_out_tasks(SETUP["test_set"], generator, tasks=60, n_way=5, k_shot=1, n_query=10)


def probe_training(ns, inputs):
    embedding, _ = ns["train"](150)
    images = ns["test_set"].images
    return ns["predict"](embedding, images_at(images, inputs["support"]), inputs["support_y"],
                         images_at(images, inputs["query"]))


def checks_training(inputs, out, grade):
    grade.accuracy(3, out, inputs["_labels"], (HALF_THRESHOLD, THRESHOLD), "after 150 meta-training steps",
                   ("check parts A and B (train(150) must run with them): a run that does not learn usually "
                    "has the distances' sign reversed or prototypes that mix tasks",
                    "prototypes from each task's own support set, the loss averaged over every query; compare "
                    "your learning curve with the notebook's 500-step run"))


QUESTIONS = [
    Question("a_prototypes", 2, inputs_prototypes, probe_prototypes, checks_prototypes),
    Question("b_episode_loss", 3, inputs_episode_loss, probe_episode_loss, checks_episode_loss),
    Question("c_training", 3, inputs_training, probe_training, checks_training),
]
