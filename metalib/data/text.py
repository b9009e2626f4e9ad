"""Few-shot text classification data: real conversations by topic, and two ways to turn text into vectors.

- :func:`chatterbot_topics` reads the English conversations that ship in the ``chatterbot-corpus``
  wheel (2,026 conversations in 21 topics: AI, food, history, ...). A conversation is one example,
  its file's topic its class, as in few-shot intent and topic classification (Yu et al., 2018,
  "Diverse Few-Shot Text Classification with Multiple Metrics", NAACL).
- :class:`WordEmbeddings` is a frozen encoder: the 256-d token embeddings and the tokenizer of
  WordLlama (``l2_supercat_256``, distilled from Llama 2's input embeddings), read straight from the
  ``wordllama`` wheel with ``safetensors`` and ``tokenizers``. A text is the mean of its tokens'
  vectors, as WordLlama's own ``embed`` pools them.
- :func:`char_ngrams` turns each text into the hashed ids of its character n-grams, the input of a
  learned bag-of-n-grams encoder (fastText's subword trick: Bojanowski et al., 2017, "Enriching
  Word Vectors with Subword Information", TACL) that a Prototypical Network meta-trains.

Examples are rows of a table; :class:`metalib.tasks.RowEpisodeSampler` draws tasks over them.
"""
from __future__ import annotations

import glob
import os
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .paths import cache_dir

WORDLLAMA = "wordllama==0.4.0.post1"
_WEIGHTS = "wordllama/weights/l2_supercat_256.safetensors"
_TOKENIZER = "wordllama/tokenizers/l2_supercat_tokenizer_config.json"


@dataclass(frozen=True)
class TextClasses:
    """Texts with their classes: ``texts[i]`` belongs to class ``labels[i]``, named ``names[labels[i]]``."""

    texts: tuple[str, ...]
    labels: torch.Tensor
    names: tuple[str, ...]

    def select(self, classes: list[int] | torch.Tensor) -> "TextClasses":
        """The rows of the given classes, relabelled ``0 .. len(classes)-1`` in the order given."""
        classes = [int(c) for c in classes]
        new = {c: j for j, c in enumerate(classes)}
        keep = [i for i, y in enumerate(self.labels.tolist()) if y in new]
        return TextClasses(tuple(self.texts[i] for i in keep),
                           torch.tensor([new[int(self.labels[i])] for i in keep], dtype=torch.int64),
                           tuple(self.names[c] for c in classes))


def chatterbot_topics(language: str = "english", min_examples: int = 1) -> TextClasses:
    """The conversations of ``chatterbot-corpus`` for one language, a conversation's lines joined by spaces.

    Args:
        language: a folder of the corpus (``"english"``, ``"chinese"``, ...).
        min_examples: keep only topics with at least this many conversations (a 5-shot task with 10
            queries needs 15).
    """
    try:
        import chatterbot_corpus
        import yaml
    except ImportError as error:
        raise ImportError(f"{error.name} is missing; install the book's environment (bash tools/book.sh) "
                          f"or pip install chatterbot-corpus==1.3.3 pyyaml") from None
    folder = Path(chatterbot_corpus.__file__).parent / "data" / language
    files = sorted(folder.glob("*.yml"))
    if not files:
        languages = sorted(p.name for p in folder.parent.iterdir() if p.is_dir())
        raise ValueError(f"chatterbot-corpus has no language {language!r}; use one of {', '.join(languages)}")
    texts, labels, names = [], [], []
    for path in files:
        conversations = yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations") or []
        lines = [" ".join(str(line) for line in c) for c in conversations if c]
        if len(lines) >= min_examples:
            texts += lines
            labels += [len(names)] * len(lines)
            names.append(path.stem)
    return TextClasses(tuple(texts), torch.tensor(labels, dtype=torch.int64), tuple(names))


def _wordllama_wheel() -> Path:
    """The wordllama wheel: ``$METALIB_WORDLLAMA``, else the environment's or metalib's wheels folder."""
    named = os.environ.get("METALIB_WORDLLAMA")
    if named:
        if not Path(named).is_file():
            raise FileNotFoundError(f"METALIB_WORDLLAMA={named} is not a file; point it at the wordllama wheel")
        return Path(named)
    for folder in (Path(sys.prefix) / "wheels", cache_dir("wheels")):
        found = sorted(glob.glob(str(folder / "wordllama-*.whl")))
        if found:
            return Path(found[-1])
    raise FileNotFoundError(
        f"the wordllama wheel was not found in {Path(sys.prefix) / 'wheels'} or {cache_dir('wheels')}. Fix: "
        f"pip download --no-deps {WORDLLAMA} -d {cache_dir('wheels')} (bash tools/book.sh does this; the "
        f"package itself is never imported, since it needs numpy 2)")


class WordEmbeddings:
    """WordLlama's frozen token embeddings ``[32000, 256]`` and tokenizer, read from its wheel.

    ``encode(texts)`` gives each text the mean of its tokens' vectors ``[M, 256]`` (texts without a
    token get zeros), one :func:`torch.nn.functional.embedding_bag` call for the whole list.

    Reference: Miller (2024), WordLlama, https://github.com/dleemiller/WordLlama.
    """

    def __init__(self, wheel: str | Path | None = None) -> None:
        from safetensors.torch import load
        from tokenizers import Tokenizer

        path = Path(wheel) if wheel is not None else _wordllama_wheel()
        with zipfile.ZipFile(path) as z:
            self.weight = load(z.read(_WEIGHTS))["embedding.weight"].float()
            self.tokenizer = Tokenizer.from_str(z.read(_TOKENIZER).decode("utf-8"))
        self.dim = self.weight.shape[1]

    def token_ids(self, texts: list[str] | tuple[str, ...]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: list[str] | tuple[str, ...]) -> torch.Tensor:
        ids = self.token_ids(texts)
        flat = torch.tensor([i for row in ids for i in row], dtype=torch.int64).clamp_(max=self.weight.shape[0] - 1)
        offsets = torch.tensor([0] + [len(row) for row in ids[:-1]], dtype=torch.int64).cumsum(0)
        return torch.nn.functional.embedding_bag(flat, self.weight, offsets, mode="mean")


def char_ngrams(texts: list[str] | tuple[str, ...], n: tuple[int, ...] = (3,), buckets: int = 2 ** 14,
                max_ngrams: int = 400) -> torch.Tensor:
    """Hashed character n-grams of each text, padded: int64 ``[M, L]`` with ``-1`` after a text's last one.

    A text is lower-cased and framed by spaces; n-gram ``g`` goes to bucket ``crc32(g) % buckets``
    (a fixed hash, so ids agree across processes, unlike Python's ``hash``). The first ``max_ngrams``
    of each size are kept.
    """
    if buckets < 2 or not n or min(n) < 1:
        raise ValueError(f"need buckets >= 2 and n-gram sizes >= 1, got buckets={buckets}, n={n}")
    rows = []
    for text in texts:
        t = f" {' '.join(text.lower().split())} "
        ids = []
        for size in n:
            ids += [zlib.crc32(t[i:i + size].encode("utf-8")) % buckets
                    for i in range(min(len(t) - size + 1, max_ngrams))]
        rows.append(ids)
    width = max(1, max(len(r) for r in rows))
    out = torch.full((len(rows), width), -1, dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.int64)
    return out


class NgramBag(torch.nn.Module):
    """A learned text encoder: the mean of its hashed n-grams' vectors ``[M, dim]``.

    Input: ``char_ngrams``' ``[M, L]`` ids with ``-1`` padding (ignored).
    """

    def __init__(self, buckets: int = 2 ** 14, dim: int = 64) -> None:
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(buckets + 1, dim, mode="mean", padding_idx=buckets)
        self.buckets = buckets

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bag(ids.masked_fill(ids < 0, self.buckets))


def ngram_counts(ids: torch.Tensor, buckets: int) -> torch.Tensor:
    """Untrained bag of n-grams: each text's bucket counts ``[M, buckets]``, scaled to unit length."""
    counts = torch.zeros(ids.shape[0], buckets + 1)
    counts.scatter_add_(1, ids.masked_fill(ids < 0, buckets), torch.ones(ids.shape))
    return torch.nn.functional.normalize(counts[:, :buckets], dim=1)
