"""Static text embeddings for the semantic cache and the classifier, and the cache's "same meaning" decision.

The model is a static distillation of all-MiniLM-L6-v2 (model2vec): every WordPiece token has one vector, and a
text's embedding is the normalised mean of its tokens' vectors. That costs a dictionary look-up per word and one
small numpy sum per text (tens of microseconds), needs no torch and no network, and the whole model is one numpy
file under `models/` built by `make classifier` (training/build_embedder.py).

The WordPiece tokenizer is written here in plain Python rather than taken from `tokenizers`, which would drag
huggingface-hub into the service image; with a per-word cache it is as fast for prompts of a few hundred words,
and training/check_tokenizer.py checks that it gives the same tokens as the reference on the training texts.

Static embeddings put "capital of France" and "capital of Germany" very close together (cosine ~0.95), so cosine
alone cannot decide a cache hit. `same_meaning` adds a cheap guard that compares what must not differ between two
requests that share an answer: numbers, negations, named entities and rare words, polar words (ascending /
descending, min / max), units and the language. bench/semantic_threshold.py measures it; docs/semantic-cache.md
has the figures.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "minilm-l6-static-256.npz"

# Texts are cut to this many characters before tokenizing (about 400-500 tokens): a prompt's meaning for routing
# and for cache matching is carried by its start; `same_meaning` compares what lies beyond it exactly.
MAX_CHARS = 2048

_WORD_CACHE_LIMIT = 200_000

# BERT's pre-tokenizer: punctuation characters (ASCII punctuation and symbols, Unicode category P) and CJK
# ideographs stand alone; every other run of non-space characters is a word.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ebef\U0002f800-\U0002fa1f"
_PUNCT = re.escape(
    "".join(chr(c) for c in (*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)))
    + "".join(chr(c) for c in range(128, 0x10000) if unicodedata.category(chr(c)).startswith("P"))
)
_PRETOKEN = re.compile(rf"[{_PUNCT}{_CJK}]|[^\s{_PUNCT}{_CJK}]+")
_ASCII_CONTROL = {c: None for c in (*range(0, 9), 11, 12, *range(14, 32), 127)}


def _normalise(text: str) -> str:
    """BERT's uncased normaliser: drop control characters, lowercase, strip accents."""
    if text.isascii():
        return text.translate(_ASCII_CONTROL).lower()
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch not in "\x00\ufffd" and (ch in "\t\n\r" or not unicodedata.category(ch).startswith("C"))
    )
    text = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


class WordPiece:
    """Uncased BERT WordPiece (greedy longest match, "##" continuations), unknown words dropped as model2vec does."""

    def __init__(self, vocab: Sequence[str], unk_token: str = "[UNK]", max_word_chars: int = 100) -> None:
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._unk = self._ids.get(unk_token)
        self._max_word_chars = max_word_chars
        self._cache: dict[str, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def words(self, text: str) -> list[str]:
        return _PRETOKEN.findall(_normalise(text))

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for word in self.words(text):
            pieces = cache.get(word)
            if pieces is None:
                pieces = self._word_pieces(word)
                if len(cache) >= _WORD_CACHE_LIMIT:
                    with self._lock:
                        cache.clear()
                cache[word] = pieces
            ids.extend(pieces)
        return ids

    def _word_pieces(self, word: str) -> tuple[int, ...]:
        ids = self._ids
        if len(word) > self._max_word_chars:
            return ()
        hit = ids.get(word)
        if hit is not None:
            return () if hit == self._unk else (hit,)
        pieces: list[int] = []
        start, n = 0, len(word)
        while start < n:
            end = n
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = ids.get(piece)
                if found is not None:
                    pieces.append(found)
                    break
                end -= 1
            else:
                return ()  # no piece matches: the whole word is [UNK], which is dropped
            start = end
        return tuple(pieces)


class Embedder:
    """Static sentence embeddings: the mean of token vectors, L2-normalised (float32)."""

    name: str
    dim: int

    def __init__(self, name: str, vocab: Sequence[str], vectors: np.ndarray) -> None:
        self.name = name
        self.tokenizer = WordPiece(vocab)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(self.vectors.shape[1])

    @classmethod
    def load(cls, path: str | Path | None = None) -> Embedder:
        """The shipped model by default; one instance per file is shared by everyone in the process."""
        resolved = Path(path) if path is not None else DEFAULT_MODEL
        key = str(resolved.resolve())
        with _LOADED_LOCK:
            embedder = _LOADED.get(key)
            if embedder is None:
                with np.load(resolved, allow_pickle=False) as data:
                    vocab = str(data["vocab"]).split("\n")
                    vectors = data["vectors"].astype(np.float32) * data["scales"].astype(np.float32)[:, None]
                    name = str(data["name"])
                embedder = _LOADED[key] = cls(name, vocab, vectors)
        return embedder

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text[:MAX_CHARS])

    def mean_vector(self, ids: Sequence[int]) -> np.ndarray:
        """The unnormalised mean of the tokens' vectors (zeros for no tokens)."""
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        return self.vectors[ids].mean(axis=0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32; each row has unit length, except an all-zero row for a text with no tokens."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.token_ids(text)
            if ids:
                out[row] = self.vectors[ids].sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


_LOADED: dict[str, Embedder] = {}
_LOADED_LOCK = threading.Lock()
