"""metalib.data.text: the chatterbot topics, WordLlama's frozen encoder, hashed character n-grams."""
import metalib  # noqa: F401  (before torch)
import pytest
import torch

from metalib.data import text
from metalib.data.text import NgramBag, WordEmbeddings, char_ngrams, chatterbot_topics, ngram_counts


def test_topics_are_the_corpus_files_with_enough_conversations():
    everything = chatterbot_topics()
    assert len(everything.names) == 21 and len(everything.texts) == 2026
    kept = chatterbot_topics(min_examples=15)
    sizes = torch.bincount(kept.labels)
    assert len(kept.names) == 18 and int(sizes.min()) >= 15
    assert "health" in everything.names and "health" not in kept.names   # one conversation
    some = kept.select([kept.names.index("food"), kept.names.index("ai")])
    assert some.names == ("food", "ai") and set(some.labels.tolist()) == {0, 1}
    assert len(some.texts) == int(sizes[kept.names.index("food")] + sizes[kept.names.index("ai")])


def test_an_unknown_language_names_the_ones_there_are():
    with pytest.raises(ValueError, match="english"):
        chatterbot_topics("klingon")


def test_wordllama_mean_pools_its_token_vectors():
    words = WordEmbeddings()
    assert words.weight.shape == (32000, 256)
    texts = ["What is AI?", "Tell me a joke about money", ""]
    got = words.encode(texts)
    for t, row in zip(texts, got):
        ids = words.token_ids([t])[0]
        expected = words.weight[ids].mean(0) if ids else torch.zeros(256)
        torch.testing.assert_close(row, expected)


def test_a_missing_wheel_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(text.sys, "prefix", str(tmp_path))
    monkeypatch.setenv("METALIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("METALIB_WORDLLAMA", raising=False)
    with pytest.raises(FileNotFoundError, match="pip download --no-deps wordllama"):
        WordEmbeddings()
    monkeypatch.setenv("METALIB_WORDLLAMA", str(tmp_path / "nowhere.whl"))
    with pytest.raises(FileNotFoundError, match="METALIB_WORDLLAMA"):
        WordEmbeddings()


def test_char_ngrams_hash_each_trigram_of_the_framed_text():
    import zlib
    ids = char_ngrams(["Hi  There", "a"], (3,), buckets=97)
    framed = " hi there "
    expected = [zlib.crc32(framed[i:i + 3].encode()) % 97 for i in range(len(framed) - 2)]
    assert ids[0, :len(expected)].tolist() == expected
    assert ids[1].tolist()[:1] == [zlib.crc32(b" a ") % 97] and (ids[1, 1:] == -1).all()
    with pytest.raises(ValueError, match="buckets"):
        char_ngrams(["x"], (3,), buckets=1)


def test_ngram_counts_and_the_learned_bag_ignore_padding():
    ids = torch.tensor([[1, 1, 2, -1], [3, -1, -1, -1]])
    counts = ngram_counts(ids, 4)
    torch.testing.assert_close(counts[0], torch.tensor([0.0, 2.0, 1.0, 0.0]) / 5 ** 0.5)
    bag = NgramBag(4, 3)
    weight = bag.bag.weight
    torch.testing.assert_close(bag(ids)[0], (2 * weight[1] + weight[2]) / 3)
    torch.testing.assert_close(bag(ids)[1], weight[3])
