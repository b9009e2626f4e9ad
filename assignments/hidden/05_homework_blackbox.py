"""Hidden tests of homework 05_homework_blackbox (a transformer as a black-box meta-learner on Omniglot).

References: the sequences built one example at a time, and attention computed one query position at
a time over the keys up to it, in float64. Part C meta-trains the homework's transformer with the
submission's functions inside the sandbox and classifies held-out tasks the judge draws from the
test alphabets; the query labels never leave the judge. Thresholds: see THRESHOLD below.
"""
import math

import torch

from grading.judge import Question, close, held_out_tasks, setup_namespace
from grading.runner import attempt, images_at, lines_run  # noqa: F401 - the probes' helpers (the sandbox gives them too)

SETUP = setup_namespace("05_homework_blackbox")
TIME_LIMIT = 420      # the notebook at its grading length (GRADING=1: 20 steps a run)
CELL_TIME = 240
PROBE_TIME = 300      # part C trains for 800 steps (about 45 s on one core)
NEEDS_DATA = "omniglot"
# Measured as the judge grades (its draw of every question's inputs from one generator, seed 0), one
# thread:
#   the solution, train(800, seed=s) for s = 0..4:   0.781 0.827 0.809 0.865 0.856 (min 0.781)
#   (0.806-0.867 on another draw of the same size)
#   chance is 1/3, and a model still on its plateau stays near it;
# so 0.70 leaves an 8-point margin below the solution for other processors' round-off.
THRESHOLD = 0.70
HALF_THRESHOLD = 0.45
MANUAL = [
    {"name": "d1_plateau", "points": 1.5, "rubric":
     "0.5: reads the plateau's length off their own curve (a few hundred steps near log 3 = 1.10). "
     "0.5: what must be discovered: attending from a query to the support image that matches it and "
     "copying that position's label code (an induction-like mechanism); until then the best guess is "
     "uniform. 0.5: a Prototypical Network computes class means and distances by construction, so "
     "its loss falls from the first steps."},
    {"name": "d2_compare", "points": 1.5, "rubric":
     "0.5: their four accuracies and costs per step, read correctly (measured with the solution at "
     "1,000 steps: ProtoNet 88%, transformer 83%, SNAIL 79%, MANN 47% with its loss still near log 3; "
     "SNAIL and MANN about 1.5x the transformer's time per step). 0.5: built into the ProtoNet: "
     "permutation invariance, a class is the mean of its embeddings, nearest-prototype decisions. "
     "0.5: what the black-box learners can do: any function of the sequence (weigh examples, use "
     "relations between supports, other label formats or tasks), at the price of data and steps; and "
     "a design reason for the ranking: attention lets a query read the matching support position "
     "directly (transformer, SNAIL's attention layers), while MANN must learn to write to and address "
     "its memory first, so its plateau is longest."},
    {"name": "d3_order", "points": 1, "rubric":
     "0.5: their number (a few percent here, not 0). 0.5: the causal mask makes each support token "
     "read only earlier supports, so support representations after the first block depend on the "
     "order, and queries read those; without positional encoding, a query's own attention over the "
     "supports is order-free, so only this path can change a prediction."},
]


def reference_sequences(support_x, support_y, query_x, n_way):
    rows = []
    for b in range(len(support_x)):
        row = [torch.cat([x.flatten(), torch.eye(n_way, dtype=x.dtype)[y]]) for x, y in zip(support_x[b], support_y[b])]
        row += [torch.cat([x.flatten(), torch.zeros(n_way, dtype=x.dtype)]) for x in query_x[b]]
        rows.append(torch.stack(row))
    return torch.stack(rows)


def reference_attention(q, k, v):
    out = torch.zeros_like(q)
    for t in range(q.shape[-2]):
        scores = (q[..., t:t + 1, :] @ k[..., :t + 1, :].transpose(-1, -2)) / math.sqrt(q.shape[-1])
        out[..., t, :] = (torch.softmax(scores, -1) @ v[..., :t + 1, :])[..., 0, :]
    return out


def inputs_sequences(generator):
    def batch(b, s, m, n):
        return {"support_x": torch.rand(b, s, 1, 14, 14, generator=generator, dtype=torch.float64),
                "support_y": torch.randint(0, n, (b, s), generator=generator),
                "query_x": torch.rand(b, m, 1, 14, 14, generator=generator, dtype=torch.float64), "n_way": n}
    return {"main": batch(3, 6, 4, 3), "small": batch(1, 2, 1, 2), "large": batch(8, 20, 15, 5)}


def probe_sequences(ns, inputs):
    def call(case):
        return ns["make_sequences"](case["support_x"], case["support_y"], case["query_x"], case["n_way"])

    return {"main": attempt(call, inputs["main"]),
            "lines": [attempt(lines_run, call, inputs[k]) for k in ("small", "large")]}


def checks_sequences(inputs, out, grade):
    main = inputs["main"]
    right = grade.check(1.5, close(out["main"], reference_sequences(main["support_x"], main["support_y"],
                                                                      main["query_x"], main["n_way"]), atol=0),
                        "3 tasks, 6 support and 4 query images, 3 classes: pixels then the one-hot label "
                        "(zeros for queries), support first",
                        "flatten each image to 196 numbers (flatten(2)), append F.one_hot(labels, n_way) "
                        "for the support and n_way zeros for the queries, then concatenate support and "
                        "queries along the sequence dimension (dim 1)")
    grade.vectorised(0.5, right, out["lines"], "1 task of 3 images", "8 tasks of 35",
                     "no loop over tasks or examples: flatten, one_hot and cat work on the whole batch")


def inputs_attention(generator):
    def qkv(b, h, length, d):
        return [torch.randn(b, h, length, d, generator=generator, dtype=torch.float64) for _ in range(3)]
    return {"main": qkv(2, 3, 7, 4), "small": qkv(1, 1, 2, 4), "large": qkv(4, 2, 40, 4)}


def probe_attention(ns, inputs):
    import torch

    q, k, v = inputs["main"]
    changed = [t.clone() for t in inputs["main"]]
    for t in changed:
        t[..., 4:, :] = torch.randn(t[..., 4:, :].shape, dtype=t.dtype)   # change the future of position 3
    return {"main": attempt(ns["causal_attention"], q, k, v),
            "changed_future": attempt(ns["causal_attention"], *changed),
            "lines": [attempt(lines_run, ns["causal_attention"], *inputs[k]) for k in ("small", "large")]}


def checks_attention(inputs, out, grade):
    expected = reference_attention(*inputs["main"])
    right = grade.check(2, close(out["main"], expected, atol=1e-10),
                        "[2, 3, 7, 4] queries, keys and values: softmax(q k^T / sqrt(d) + causal mask) v",
                        "scale by sqrt of the last dimension of q; mask keys after the query (triu(1) of an "
                        "[L, L] matrix of True) with -inf before the softmax over the keys (dim -1)")
    got = out["changed_future"]
    ok = (isinstance(got, torch.Tensor) and isinstance(out["main"], torch.Tensor) and right
          and torch.allclose(got[..., :4, :], out["main"][..., :4, :], atol=1e-12))
    grade.check(0.5, (ok, "" if ok else "an incorrect attention is not checked further" if not right
                      else "positions 0-3 changed when only positions 4-6 did"),
                "causal: changing positions 4-6 leaves the outputs at positions 0-3 unchanged",
                "the mask must hide keys s > t, not s >= t or s < t")
    grade.vectorised(0.5, right, out["lines"], "2 positions", "40",
                     "build the whole [L, L] mask at once and use batched matrix products (@)")


def inputs_training(generator):
    """Held-out 3-way 1-shot tasks of the test alphabets (indices into test_set, support and queries shuffled)."""
    return held_out_tasks(SETUP["test_set"], generator, tasks=100, n_way=3, k_shot=1, n_query=5,
                          shuffle_support=True)


def probe_training(ns, inputs):
    import torch
    import torch.nn.functional as F

    model, _, _ = ns["train"](800)

    def half(index):   # the homework's 14 x 14 images
        x = images_at(ns["test_set"].images, index)
        return F.avg_pool2d(x.flatten(0, 1), 2).unflatten(0, x.shape[:2])

    with torch.no_grad():
        logits = ns["query_logits"](model, half(inputs["support"]), inputs["support_y"], half(inputs["query"]))
    return logits.argmax(-1)


def checks_training(inputs, out, grade):
    grade.accuracy(3, out, inputs["_labels"], (HALF_THRESHOLD, THRESHOLD), "after 800 meta-training steps",
                   ("a model that stays at chance (33%) usually reads its own label, or none: check the causal "
                    "mask and that queries get zeros; train(800) must run with your functions",
                    "check the scaling by sqrt(d) and the one-hot codes of the support"))


QUESTIONS = [
    Question("a_sequences", 2, inputs_sequences, probe_sequences, checks_sequences),
    Question("b_attention", 3, inputs_attention, probe_attention, checks_attention),
    Question("c_training", 3, inputs_training, probe_training, checks_training),
]
