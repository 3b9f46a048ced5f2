"""Static text embeddings for the semantic cache and the classifier, and the cache's "same meaning" decision.

The model is a static distillation of all-MiniLM-L6-v2 (model2vec): every WordPiece token has one vector, and a
text's embedding is the normalised mean of its tokens' vectors. That costs a dictionary look-up per word and one
small numpy sum per text (tens of microseconds), needs no torch and no network, and the whole model is one numpy
file under `models/` built by `make classifier` (training/build_embedder.py).

The WordPiece tokenizer is written here in plain Python rather than taken from `tokenizers`, which would drag
huggingface-hub into the service image; with a per-word cache it is as fast for prompts of a few hundred words,
and tests/test_embeddings.py checks it against the reference (`tokenizers` built on the same vocabulary).

Static embeddings put "capital of France" and "capital of Germany" very close together (cosine 0.91), so cosine
alone cannot decide a cache hit. `same_meaning` adds a cheap guard that compares what must not differ between two
requests that share an answer: numbers, negations, content words and names, polar words (ascending /
descending, min / max), the order of units and languages, and the language. bench/semantic_threshold.py
measures it; docs/semantic-cache.md has the figures.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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

def _tables() -> tuple[str, dict[int, str | None], dict[int, None]]:
    """Punctuation, the clean-up table and the accents to strip, for the Basic Multilingual Plane (~60 ms)."""
    chars = "".join(map(chr, range(0x10000)))
    categories = list(map(unicodedata.category, chars))
    punct = "$+<=>^`|~" + "".join(ch for ch, cat in zip(chars, categories) if cat[0] == "P")
    clean: dict[int, str | None] = {code: None for code, cat in enumerate(categories) if cat[0] == "C"}
    clean.update({ord(ch): " " for ch in re.findall(r"\s", chars)})
    for ch in "\t\n\r":
        del clean[ord(ch)]
    clean[0xFFFD] = None
    marks: dict[int, None] = {code: None for code, cat in enumerate(categories) if cat == "Mn"}
    return re.escape(punct), clean, marks


_PUNCT, _CLEAN, _MARKS = _tables()
_PRETOKEN = re.compile(rf"[{_PUNCT}{_CJK}]|[^\s{_PUNCT}{_CJK}]+")
_ASCII_CLEAN = {code: value for code, value in _CLEAN.items() if code < 128}


def _normalise(text: str) -> str:
    """BERT's uncased normaliser: drop control characters, lowercase, strip accents (all in C loops)."""
    if text.isascii():
        return text.translate(_ASCII_CLEAN).lower()
    return unicodedata.normalize("NFD", text.translate(_CLEAN).lower()).translate(_MARKS)


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
        # Stored as float16 (the file) but held as float32: numpy sums float16 rows in software, 7x slower than
        # float32 (0.34 ms against 0.05 ms for a 2,000-character prompt), for 15 MB more. Same values either way.
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
                    vectors = (data["vectors"] * data["scales"].astype(np.float32)[:, None]).astype(np.float16)
                    name = str(data["name"])
                embedder = _LOADED[key] = cls(name, vocab, vectors)
        return embedder

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text[:MAX_CHARS])

    def mean_vector(self, ids: Sequence[int]) -> np.ndarray:
        """The unnormalised mean of the tokens' vectors (zeros for no tokens)."""
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        return self.vectors[ids].sum(axis=0, dtype=np.float32) / len(ids)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32; each row has unit length, except an all-zero row for a text with no tokens."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.token_ids(text)
            if ids:
                out[row] = self.vectors[ids].sum(axis=0, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


_LOADED: dict[str, Embedder] = {}
_LOADED_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------------------------
# The semantic cache's decision: cosine first, then a guard on what must not differ between two requests that
# share an answer. The guard works on words, not vectors: static embeddings cannot tell "France" from "Germany".

# Calibrated on training/data/semantic_pairs.jsonl (bench/semantic_threshold.py, docs/semantic-cache.md).
DEFAULT_THRESHOLD = 0.75

_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "can not"), (re.compile(r"\bwon't\b"), "will not"), (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"), (re.compile(r"'m\b"), " am"), (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'ve\b"), " have"), (re.compile(r"'d\b"), " would"), (re.compile(r"'s\b"), ""),
)
_GUARD_WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*")
_ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
_NUMBER_WORDS = {
    **{w: str(i) for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"])},
    "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000", "million": "1000000",
    "billion": "1000000000", "dozen": "12", "half": "0.5", "first": "1st", "second": "2nd", "third": "3rd",
}
_NEGATIONS = frozenset(["not", "no", "never", "without", "none", "nor", "cannot", "neither", "nothing", "nobody"])
# Words that phrase a request rather than say what it is about: paraphrases swap them freely.
_FILLER = frozenset(["a", "an", "the", "of", "to", "in", "on", "at", "for", "from", "by", "with", "about", "as", "into", "onto", "over", "than", "then", "and", "or", "but", "if", "so", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "doing", "done", "have", "has", "had", "having", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "i", "me", "my", "mine", "myself", "you", "your", "yours", "yourself", "we", "our", "ours", "they", "them", "their", "theirs", "he", "him", "his", "she", "her", "hers", "it", "its", "itself", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "please", "pls", "thanks", "thank", "hi", "hello", "hey", "kindly", "just", "also", "really", "very", "some", "any", "all", "each", "every", "much", "many", "more", "most", "tell", "give", "show", "let", "help", "want", "need", "like", "know", "say", "explain", "describe", "define", "list", "suggest", "recommend", "share", "make", "made", "get", "got", "way", "best", "good", "better", "thing", "something", "anything", "one", "write", "draft", "compose", "create", "generate", "provide", "find", "learn", "use", "using", "used", "work", "me", "quick", "simple", "simply", "plain", "term", "example", "idea", "tip", "possible", "whether", "kind", "type", "mean", "meaning", "call", "new", "own", "city", "year", "world", "recipe", "function", "up"])
# Words whose presence on one side only flips or narrows the answer (zoom in / out, most / least, like / dislike).
_MARKED = frozenset(["off", "out", "down", "least", "less", "fewer", "worst", "lowest", "smallest", "shortest", "minimum", "min", "descending", "decrease", "reduce", "below", "under", "after", "last", "bottom", "dislike", "avoid", "against", "stop", "remove", "delete", "disable", "uninstall", "opposite", "reverse", "cheap", "cheapest", "old", "oldest", "young", "youngest", "cold", "coldest", "weak", "weakest", "slow", "slowest", "short", "long", "brief", "detail", "detailed"])
# Units, currencies and languages: their order carries the direction of a conversion or a translation.
_DIRECTED_WORDS = ["celsius", "fahrenheit", "kelvin", "mile", "kilometer", "kilometr", "km", "meter", "metr", "m", "cm", "mm", "inch", "foot", "feet", "yard", "pound", "lb", "kg", "kilogram", "gram", "ounce", "oz", "liter", "litr", "gallon", "cup", "teaspoon", "tablespoon", "ml", "stone", "byte", "kilobyte", "megabyte", "gigabyte", "mph", "hour", "minute", "second", "day", "week", "month", "dollar", "euro", "yen", "pound", "sterling", "rupee", "yuan", "peso", "franc", "bitcoin", "english", "french", "spanish", "german", "italian", "portuguese", "japanese", "chinese", "korean", "russian", "arabic", "dutch", "hindi", "turkish", "polish", "swedish", "greek", "latin"]
_LANG_WORDS = {
    "en": frozenset(["the", "is", "are", "what", "how", "do", "does", "you", "i", "my", "of", "and", "to", "in", "a", "for", "with", "can", "why", "which", "who"]),
    "fr": frozenset(["le", "la", "les", "est", "sont", "quel", "quelle", "comment", "je", "tu", "vous", "de", "des", "du", "et", "un", "une", "pour", "avec", "qui"]),
    "es": frozenset(["el", "la", "los", "las", "es", "son", "qué", "cómo", "yo", "tú", "de", "del", "y", "un", "una", "para", "con", "por", "quién", "cuál"]),
    "de": frozenset(["der", "die", "das", "ist", "sind", "was", "wie", "ich", "du", "sie", "und", "ein", "eine", "für", "mit", "warum", "wer", "welche", "zu", "den"]),
    "it": frozenset(["il", "lo", "la", "gli", "le", "è", "sono", "che", "come", "io", "tu", "di", "e", "un", "una", "per", "con", "perché", "chi", "quale"]),
    "pt": frozenset(["o", "a", "os", "as", "é", "são", "que", "como", "eu", "você", "de", "e", "um", "uma", "para", "com", "por", "porque", "quem", "qual"]),
}


def _stem(word: str) -> str:
    """Crude suffix stripping, only so that "values" / "value", "calculated" / "calculate" compare equal."""
    for _ in range(2):  # twice, so that "kilometers" and "kilometer" both end as "kilomet"
        for suffix in ("ies", "ing", "ed", "es", "s", "ly", "er", "or"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
                word = word[: -len(suffix)]
                break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


_DIRECTED = frozenset(_stem(w) for w in _DIRECTED_WORDS)
_MARKED = frozenset(_stem(w) for w in _MARKED)


def _language(words: list[str]) -> str:
    best, hits = "en", 0
    for lang, vocab in _LANG_WORDS.items():
        n = sum(w in vocab for w in words)
        if n > hits:
            best, hits = lang, n
    return best


@dataclass(frozen=True, slots=True)
class _Signature:
    numbers: frozenset[str]
    negated: int  # parity of negations
    language: str
    content: Counter[str]  # stemmed words that say what the request is about, with their counts
    entities: frozenset[str]  # acronyms and capitalised words after the first
    directed: tuple[str, ...]  # units / languages in order of appearance


@functools.lru_cache(maxsize=4096)  # the cached side of a comparison recurs: its signature is computed once
def _signature(text: str) -> _Signature:
    entities = {w.lower() for w in _ACRONYM.findall(text)}
    raw = _GUARD_WORD.findall(text)
    entities.update(w.lower() for i, w in enumerate(raw) if i > 0 and w[:1].isupper() and w.lower() not in _FILLER)
    lowered = text.lower().replace("\u2019", "'")
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    words = _GUARD_WORD.findall(lowered)
    numbers, content, directed, negated = set(), Counter(), [], 0
    for word in words:
        word = _NUMBER_WORDS.get(word, word)
        if any(ch.isdigit() for ch in word):
            numbers.add(word.replace(",", ""))
        elif word in _NEGATIONS:
            negated ^= 1
        elif word not in _FILLER or word in entities:
            stem = _stem(word)
            content[stem] += 1
            if stem in _DIRECTED and stem not in directed:
                directed.append(stem)
    return _Signature(frozenset(numbers), negated, _language(words), content,
                      frozenset(_stem(e) for e in entities), tuple(directed))


def same_meaning(query: str, cached: str, similarity: float, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """True only when `cached`'s answer may be served for `query`: cosine at or above the threshold, and the
    same numbers, negations, language, directions, and the same content words, up to one extra generic one."""
    if similarity < threshold:
        return False
    if query == cached:
        return True
    if query[MAX_CHARS:] != cached[MAX_CHARS:]:  # the embedding saw only the start: the rest must be identical
        return False
    a, b = _signature(query[:MAX_CHARS]), _signature(cached[:MAX_CHARS])
    if a.numbers != b.numbers or a.negated != b.negated or a.language != b.language or a.directed != b.directed:
        return False
    only_a, only_b = a.content - b.content, b.content - a.content
    if only_a and only_b:  # a word swapped for another: France / Germany, pancakes / waffles, buying / renting
        return False
    extra = set(only_a or only_b)
    return sum((only_a or only_b).values()) <= 1 and not (extra & _MARKED) and not (extra & (a.entities | b.entities))
