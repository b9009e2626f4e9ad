"""Few-shot topic classification of real conversations: frozen encoders, fine-tuning and meta-training.

What it measures
    The English conversations of ``chatterbot-corpus`` (metalib.data.text), the 18 topics with at
    least 15 conversations, a conversation per example. Each split draws 5 test topics, 5 validation
    topics and 8 training topics; 5-way tasks with 1 or 5 shots and 10 queries per class, 600 test
    tasks per split. Methods:

    - ``wordllama``: frozen WordLlama token embeddings, mean-pooled and scaled to unit length,
      nearest prototype (no training);
    - ``char_ngrams``: frozen bag of hashed character trigrams (unit length), nearest prototype;
    - ``finetuned``: a softmax classifier fitted to each task's support set on the WordLlama
      features (100 Adam steps);
    - ``wordllama_head``: a linear map on the WordLlama features, started at the identity and
      meta-trained as a Prototypical Network on the training topics;
    - ``ngram_protonet``: a bag of learned trigram vectors (64-d) meta-trained from scratch.

    The meta-trained ones are scored after the last step and at the step (every 25) whose accuracy
    on the validation topics is best. ``curves`` holds train-topic, validation and test accuracy
    through training. ``confusions`` counts, over 5-way 5-shot tasks drawn from all 18 topics, which
    topic the frozen WordLlama prototypes give each topic's queries.

How to run it
    python experiments/few_shot_text.py --out few_shot_text_cpu                      # default budget
    METALIB_BUDGET=full python experiments/few_shot_text.py --out few_shot_text_full
"""
from __future__ import annotations

import argparse
import shlex
import sys

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F

from metalib import budget
from metalib.data.text import NgramBag, WordEmbeddings, char_ngrams, chatterbot_topics, ngram_counts
from metalib.evaluation import mean_ci95
from metalib.metric.rows import confusion_counts, logistic_regression, prototype_logits, prototypical_loss
from metalib.results import save_results
from metalib.tasks import RowEpisodeSampler

N_WAY, QUERIES, TEST_TASKS, VAL_TASKS, MIN_EXAMPLES, BUCKETS, EVAL_EVERY = 5, 10, 600, 300, 15, 2 ** 13, 25


def sampler_over(labels: torch.Tensor, rows: torch.Tensor, shots: int, seed: int):
    """Draw tasks among ``rows`` only; the episodes name rows of the whole table."""
    return RowEpisodeSampler(labels, N_WAY, shots, QUERIES, seed=seed, rows=rows).sample


def accuracy(logits: torch.Tensor, ep) -> torch.Tensor:
    return (logits.argmax(-1) == ep.query_y).float().mean(-1)


def split_rows(labels: torch.Tensor, num_classes: int, split: int) -> dict[str, torch.Tensor]:
    perm = torch.randperm(num_classes, generator=torch.Generator().manual_seed(split))
    parts = {"test": perm[:5], "val": perm[5:10], "train": perm[10:]}
    return {k: torch.nonzero(torch.isin(labels, v)).flatten() for k, v in parts.items()}


def meta_train(encoder: torch.nn.Module, encode, sample_train, val_ep, test_ep, steps: int, lr: float,
               tasks: int = 8) -> dict:
    """Adam on the prototypical loss; returns the curves and the test accuracy at the last and best step."""
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    train_ep = sample_train(200)

    def scores():
        with torch.no_grad():
            return [float(accuracy(prototype_logits(encode, ep, N_WAY), ep).mean()) for ep in (train_ep, val_ep, test_ep)]
    curve = {"step": [0], "train": [], "val": [], "test": []}
    for name, value in zip(("train", "val", "test"), scores()):
        curve[name].append(value)
    for step in range(1, steps + 1):
        loss = prototypical_loss(encode, sample_train(tasks), N_WAY)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % EVAL_EVERY == 0 or step == steps:
            curve["step"].append(step)
            for name, value in zip(("train", "val", "test"), scores()):
                curve[name].append(value)
    best = max(range(len(curve["val"])), key=lambda i: curve["val"][i])
    return {"curve": curve, "last": curve["test"][-1], "best_step": curve["step"][best], "at_best": curve["test"][best]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=budget.pick(2, 5))
    parser.add_argument("--steps", type=int, default=budget.pick(300, 1000))
    parser.add_argument("--out", default=None, help="results/<out>.json (not written when omitted)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data = chatterbot_topics(min_examples=MIN_EXAMPLES)
    words = F.normalize(WordEmbeddings().encode(data.texts), dim=1)
    ngram_ids = char_ngrams(data.texts, (3,), BUCKETS)
    counts = ngram_counts(ngram_ids, BUCKETS)
    C = len(data.names)
    results = {"topics": list(data.names), "examples": torch.bincount(data.labels).tolist(), "splits": [],
               "steps": args.steps, "n_way": N_WAY, "queries": QUERIES, "test_tasks": TEST_TASKS}
    for split in range(args.splits):
        rows = split_rows(data.labels, C, split)
        entry = {"test_topics": sorted(data.names[c] for c in data.labels[rows["test"]].unique()), "shots": {}}
        for shots in (1, 5):
            test_ep = sampler_over(data.labels, rows["test"], shots, 1000 + split)(TEST_TASKS)
            val_ep = sampler_over(data.labels, rows["val"], shots, 2000 + split)(VAL_TASKS)
            train = sampler_over(data.labels, rows["train"], shots, split)
            acc = {
                "wordllama": accuracy(prototype_logits(lambda r: words[r], test_ep, N_WAY), test_ep),
                "char_ngrams": accuracy(prototype_logits(lambda r: counts[r], test_ep, N_WAY), test_ep),
                "finetuned": accuracy(logistic_regression(words[test_ep.support], test_ep.support_y,
                                                          words[test_ep.query], N_WAY), test_ep),
            }
            out = {k: vars(mean_ci95(v)) for k, v in acc.items()}
            torch.manual_seed(split)
            head = torch.nn.Linear(words.shape[1], words.shape[1])
            torch.nn.init.eye_(head.weight)
            torch.nn.init.zeros_(head.bias)
            out["wordllama_head"] = meta_train(head, lambda r: head(words[r]), train, val_ep, test_ep,
                                               args.steps, lr=1e-3)
            bag = NgramBag(BUCKETS, 64)
            out["ngram_protonet"] = meta_train(bag, lambda r: bag(ngram_ids[r.flatten()]).view(*r.shape, -1),
                                               train, val_ep, test_ep, args.steps, lr=1e-2)
            entry["shots"][str(shots)] = out
            print(f"split {split} {shots}-shot: " + ", ".join(
                f"{k} {v['mean']:.3f}" if "mean" in v else f"{k} {v['last']:.3f} (best {v['at_best']:.3f})"
                for k, v in out.items()), flush=True)
        results["splits"].append(entry)
    every = sampler_over(data.labels, torch.arange(len(data.texts)), 5, 3000)(2000)
    results["confusions"] = confusion_counts(prototype_logits(lambda r: words[r], every, N_WAY), every, C).tolist()
    if args.out:
        given = sys.argv[1:] if argv is None else argv
        command = (f"METALIB_BUDGET={budget.name()} python experiments/few_shot_text.py "
                   + " ".join(shlex.quote(a) for a in given))
        save_results(args.out, results, "cpu", command=command)
    return results


if __name__ == "__main__":
    main()
