"""The shipped static embedder loads, tokenizes like BERT's uncased WordPiece, and the cache decision is guarded."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.embeddings import DEFAULT_THRESHOLD, Embedder, same_meaning


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


def test_shipped_model_loads_once_per_process(embedder: Embedder) -> None:
    assert embedder.name == "minilm-l6-static-256"
    assert embedder.dim == 256
    assert Embedder.load() is embedder


def test_vectors_are_unit_float32(embedder: Embedder) -> None:
    texts = ["What is the capital of France?", "hi", "many words " * 10_000, "Écris un poème sur la mer. 東京"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, embedder.dim)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_text_without_tokens_gives_a_zero_row(embedder: Embedder) -> None:
    assert not embedder.embed([""]).any()
    assert not embedder.embed(["x" * 100_000]).any()  # one 2,048-character "word" is [UNK], as in BERT
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_wordpiece_splits_like_bert(embedder: Embedder) -> None:
    vocab = {i: t for t, i in embedder.tokenizer._ids.items()}
    pieces = [vocab[i] for i in embedder.tokenizer.encode("Héllo, WORLD! Tokenization's fun.")]
    assert pieces == ["hello", ",", "world", "!", "token", "##ization", "'", "s", "fun", "."]


def test_paraphrases_are_close_in_meaning(embedder: Embedder) -> None:
    a, b, c = embedder.embed(["How do I reverse a list in Python?", "How can I reverse a Python list?",
                              "Write a poem about the sea."])
    assert float(a @ b) > DEFAULT_THRESHOLD > float(a @ c)


@pytest.mark.parametrize(
    ("query", "cached", "same"),
    [
        ("How do I reverse a list in Python?", "How can I reverse a Python list?", True),
        ("What is the capital of France?", "What's the capital city of France?", True),
        ("What is the capital of France?", "What is the capital of Germany?", False),
        ("Sort a list in ascending order in Python.", "Sort a list in descending order in Python.", False),
        ("What is 15% of 80?", "What is 15% of 90?", False),
        ("Which foods contain gluten?", "Which foods don't contain gluten?", False),
        ("Convert 5 miles to kilometers.", "Convert 5 kilometers to miles.", False),
        ("What is the capital of France?", "Quelle est la capitale de la France ?", False),
    ],
)
def test_same_meaning(embedder: Embedder, query: str, cached: str, same: bool) -> None:
    a, b = embedder.embed([query, cached])
    assert same_meaning(query, cached, float(a @ b)) is same


def test_same_meaning_needs_the_threshold() -> None:
    assert not same_meaning("What is DNS?", "What is DNS?", DEFAULT_THRESHOLD - 0.01)
    assert same_meaning("What is DNS?", "What is DNS?", 1.0)


def test_long_texts_must_match_beyond_what_was_embedded() -> None:
    body = "word " * 1000
    assert same_meaning(body + "end", body + "end", 1.0)
    assert not same_meaning(body + "apples", body + "pears", 1.0)


def test_wordpiece_matches_the_reference_tokenizer(embedder: Embedder) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = embedder.tokenizer._ids
    reference = tokenizers.Tokenizer(tokenizers.models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    reference.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    reference.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    texts = [
        "How do I reverse a list in Python? It's `xs[::-1]`, right?",
        "Héllo wörld! naïve café — 5°C, 3.14, x_y, \"quoted\" 東京タワー ×2 a´b \u200b zero\u00a0nbsp \x07 bell\ttab",
        "Résume ce texte : La réunion est annulée. ¿Qué tal? Grüße aus Köln!",
        "def f(x):\n    return {'a': [1, 2, 3]}  # comment <html> &amp; @user #tag $5 100% a+b=c",
        "supercalifragilisticexpialidocious " + "z" * 120 + " antidisestablishmentarianism",
    ]
    unk = vocab["[UNK]"]
    for text in texts:
        expected = [i for i in reference.encode(text, add_special_tokens=False).ids if i != unk]
        assert embedder.tokenizer.encode(text) == expected, text
