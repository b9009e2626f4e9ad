"""Few-shot keyword spotting on synthetic speech: new words, spoken by voices never heard in training.

What it measures
    Speech Commands' 35 words said by 24 espeak-ng voices at 2 rates and 2 pitches
    (metalib.data.speech), as 40-band log-mel spectrograms of 0.8 s, averaged over 2x2 cells to
    20 x 40. Each split holds out 10 words and 8 voices: meta-training sees the other 25 words
    said by the other 16 voices, testing the 10 new words said by the 8 new voices. 5-way tasks
    with 1 or 5 shots and 10 queries per class, 600 test tasks per split. Methods, all nearest
    prototype:

    - ``mel_stats``: each band's mean and standard deviation over time (80 numbers);
    - ``mel_flat``: the whole spectrogram as one vector;
    - ``random_conv4``: a Conv4 network (32 filters) at its random initialisation;
    - ``protonet``: the same network meta-trained as a Prototypical Network (Adam 1e-3, 4 tasks of
      5-way 5-shot per step).

How to run it
    python experiments/few_shot_speech.py --out few_shot_speech_cpu                     # default budget
    METALIB_BUDGET=full python experiments/few_shot_speech.py --out few_shot_speech_full
"""
from __future__ import annotations

import argparse
import shlex
import sys

import metalib  # before torch: its CPU threads then sleep when idle (metalib/threads.py)
import torch
import torch.nn.functional as F

from metalib import budget
from metalib.backbones import Conv4
from metalib.data.speech import spoken_words
from metalib.evaluation import mean_ci95
from metalib.metric.rows import prototype_logits, prototypical_loss
from metalib.results import save_results
from metalib.tasks import RowEpisodeSampler

N_WAY, QUERIES, TEST_TASKS, TEST_WORDS, TEST_VOICES = 5, 10, 600, 10, 8


def features() -> dict:
    """The spoken words with their spectrograms pooled to 20 x 40 and standardised."""
    data = spoken_words()
    x = F.avg_pool2d(data["features"], 2)
    data["x"] = (x - x.mean()) / x.std()
    return data


def split_rows(data: dict, split: int) -> dict[str, torch.Tensor]:
    """Rows of (train words, train voices) and of (test words, test voices) for one split."""
    g = torch.Generator().manual_seed(split)
    test_words = torch.randperm(len(data["words"]), generator=g)[:TEST_WORDS]
    test_voices = torch.randperm(len(data["voices"]), generator=g)[:TEST_VOICES]
    new_word, new_voice = torch.isin(data["word"], test_words), torch.isin(data["voice"], test_voices)
    return {"train": torch.nonzero(~new_word & ~new_voice).flatten(),
            "test": torch.nonzero(new_word & new_voice).flatten()}


def sampler_over(labels: torch.Tensor, rows: torch.Tensor, shots: int, seed: int):
    """Draw tasks among ``rows`` only; the episodes name rows of the whole table."""
    return RowEpisodeSampler(labels, N_WAY, shots, QUERIES, seed=seed, rows=rows).sample


def embed_all(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i:i + 512]) for i in range(0, len(x), 512)])


def meta_train(net: torch.nn.Module, x: torch.Tensor, sample, steps: int, tasks: int = 4) -> list[float]:
    """Adam on the prototypical loss over ``sample``'s tasks; returns the loss of every step."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    losses = []
    for _ in range(steps):
        loss = prototypical_loss(lambda r: net(x[r.flatten()]).view(*r.shape, -1), sample(tasks), N_WAY)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=budget.pick(2, 5))
    parser.add_argument("--steps", type=int, default=budget.pick(300, 1000))
    parser.add_argument("--out", default=None, help="results/<out>.json (not written when omitted)")
    args = parser.parse_args(argv)
    data = features()
    x = data["x"]
    frozen = {"mel_stats": torch.cat([x.mean(-1), x.std(-1)], -1).flatten(1), "mel_flat": x.flatten(1)}
    results = {"words": data["words"], "voices": data["voices"], "steps": args.steps, "splits": [],
               "seconds": [float(data["seconds"].min()), float(data["seconds"].max())]}
    for split in range(args.splits):
        rows = split_rows(data, split)
        torch.manual_seed(split)
        net = Conv4(hidden=32)
        frozen["random_conv4"] = embed_all(net, x)
        losses = meta_train(net, x, sampler_over(data["word"], rows["train"], 5, split), args.steps)
        trained = embed_all(net, x)
        entry = {"test_words": sorted(data["words"][w] for w in data["word"][rows["test"]].unique()),
                 "test_voices": sorted(data["voices"][v] for v in data["voice"][rows["test"]].unique()),
                 "loss": losses[:: max(1, len(losses) // 100)], "shots": {}}
        for shots in (1, 5):
            ep = sampler_over(data["word"], rows["test"], shots, 1000 + split)(TEST_TASKS)
            out = {}
            for name, z in [*frozen.items(), ("protonet", trained)]:
                logits = prototype_logits(lambda r: z[r], ep, N_WAY)
                out[name] = vars(mean_ci95((logits.argmax(-1) == ep.query_y).float().mean(-1)))
            entry["shots"][str(shots)] = out
            print(f"split {split} {shots}-shot: " + ", ".join(f"{k} {v['mean']:.3f}" for k, v in out.items()),
                  flush=True)
        results["splits"].append(entry)
    if args.out:
        given = sys.argv[1:] if argv is None else argv
        command = (f"METALIB_BUDGET={budget.name()} python experiments/few_shot_speech.py "
                   + " ".join(shlex.quote(a) for a in given))
        save_results(args.out, results, "cpu", command=command)
    return results


if __name__ == "__main__":
    main()
