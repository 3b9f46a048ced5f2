"""The shipped static embedder loads, tokenizes like BERT's uncased WordPiece, and the cache decision is guarded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from switchboard.embeddings import DEFAULT_THRESHOLD, Embedder, same_meaning

REFERENCE = Path(__file__).parent / "data" / "wordpiece_reference.json"


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
    """Against what `tokenizers` (BERT's WordPiece on the same vocabulary) made of 316 texts, recorded by
    training/wordpiece_reference.py: the reference runs where it is installed (the training venv)."""
    recorded = json.loads(REFERENCE.read_text(encoding="utf-8"))
    vocab = [token for token, _ in sorted(embedder.tokenizer._ids.items(), key=lambda item: item[1])]
    assert recorded["vocab_sha256"] == hashlib.sha256("\n".join(vocab).encode()).hexdigest(), (
        "the embedder's vocabulary changed: .venv-train/bin/python training/wordpiece_reference.py")
    assert len(recorded["cases"]) > 300
    for case in recorded["cases"]:
        expected = [i for i in case["ids"] if i != recorded["unk_id"]]  # ours drops [UNK]: it has no vector
        assert embedder.tokenizer.encode(case["text"]) == expected, case["text"]
