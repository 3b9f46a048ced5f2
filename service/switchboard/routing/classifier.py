"""Infers a request's task type and complexity when the caller named no task type.

Two linear heads over one cheap feature vector, computed once per prompt:
- the WordPiece tokens of the prompt (the static embedder's tokenizer), as binary unigram features plus hashed
  token bigrams and the first and last tokens as features of their own (2^18 buckets), L2-normalised;
- the ask (what the request wants done, apart from any pasted text: its first and last lines): its own words in
  a range of their own, its own embedding, and cues for difficulty, ease, constraints and parts, so that a short
  hard ask and a long paste with a trivial ask are not read by their length;
- the prompt's static embedding (switchboard.embeddings: the same model file the semantic cache uses);
- a few shape features (length, digits, symbols, lines, code fences), standardised.
Each answer carries two confidences, one per signal: the task type's probability and the complexity score's
distance from the threshold, so the rules can use one signal when the other is unsure.
The task-type head is a softmax over the trained labels and "none". The complexity score ranks prompts so that
sending the top ones to the strong model recovers the most quality; it adds two logits:
- a logistic head trained on RouteLLM's per-prompt outcomes (did the weak model fail where the strong one
  succeeded) and on handwritten simple/complex labels;
- a domain prior: a small softmax over the embedding guesses which of RouteLLM's domains (the 57 MMLU subjects,
  grade-school word problems) the prompt is closest to, and takes the weak model's measured shortfall there.

Everything is numpy; one decision costs well under a millisecond for a typical prompt (bench/router_eval.py).
The weights are built by `make classifier` (training/train_classifier.py); docs/classifier.md has the figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from switchboard.embeddings import MODELS_DIR, Embedder

DEFAULT_MODEL = MODELS_DIR / "classifier.npz"

# A long prompt is read from its start and its end ("summarise this: <article>", "<article> TL;DR"): that is
# where the instruction is, and it bounds the cost of one decision whatever the prompt's length.
HEAD_CHARS = 1536
TAIL_CHARS = 512
BIGRAM_BUCKETS = 1 << 18
# The ask's own words and word pairs have a range of their own after the bigram buckets, so that a head may use
# them (complexity) or not (task type) and "prove" in the ask weighs apart from "prove" in a pasted text.
ASK_BUCKETS = 1 << 16
# The first and last few tokens also count as features of their own: that is where a request says what it wants
# ("Summarize ...", "Write a haiku ...", "... TL;DR?").
EDGE_TOKENS = 8

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MATH_SYMBOLS = re.compile(r"[-+*/=^<>%√∑∫π≤≥×÷]")
_CODE_SYMBOLS = re.compile(r"[{}\[\]();_#<>]")

# The ask: what the request wants done, apart from any text pasted for it to work on. A prompt's first and last
# lines carry it ("Summarise this: <notice>", "<log> Did it start fine?"); a one-paragraph prompt is all ask.
ASK_CHARS = 300
# Cue words in the ask (stems, matched at a word's start). Difficulty: what makes a short ask hard (prove,
# derive, "why exactly", design, trade-offs, strict forms). Ease: what makes a long prompt's ask trivial (just,
# quick, one line, which line, add up). Constraints and parts: how much the answer must satisfy at once.
_HARD = re.compile(
    r"\b(?:prov|proof|deriv|demonstr|show that|rigor|rigour|formal|justif|why exactly|exactly why|precisely|"
    r"optimi[sz]|analy[sz]|trade-?off|design|implement|architect|invariant|complexity|asymptot|in depth|"
    r"steelman|critique|critically|evaluate|compare|contrast|weigh|edge case|concurren|lock-free|"
    r"distributed|sestina|villanelle|ghazal|pantoum|sonnet|terza|lipogram|acrostic|rondeau|iambic|"
    r"classify all|characteri[sz]|closed form|recurrence|theorem|lemma|irrational|infinit|converge|"
    r"diverge|isomorph|decidab|np-|undecid|derivation|from first principles|step by step|in detail)",
    re.IGNORECASE)
_EASY = re.compile(
    r"\b(?:just|quick|simple|simply|briefly|one line|one sentence|in a sentence|one-line|one word|tl;dr|gist|"
    r"shorten|which line|what command|add (?:it|them) up|what is the total|how many|is this|is it|"
    r"tag (?:this|it|each)|label (?:this|each)|what does .{1,30} mean|in plain|nothing fancy|short|"
    r"a few|fun fact|say something)",
    re.IGNORECASE)
_CONSTRAINTS = re.compile(
    r"\b(?:must|without|exactly|at most|at least|no more than|only|strict|every|each|both|all|while|"
    r"such that|guarantee|under|within|keeping|preserving|handling)\b", re.IGNORECASE)
_PARTS = re.compile(r"(?:\?|;|\bthen\b|\band (?:explain|show|prove|derive|compare|justify|state|list|give)\b|"
                    r"\balso\b|\bincluding\b|^\s*(?:\d+[.)]|[-*•])\s)", re.IGNORECASE | re.MULTILINE)
N_ASK = 8
N_SHAPE = 9 + N_ASK


def excerpt(text: str) -> str:
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def ask_text(text: str) -> str:
    """The part of a prompt that says what is wanted: a short prompt whole, else its first and last lines
    (each cut to ASK_CHARS): the instruction around a pasted text, not the text."""
    stripped = text.strip()
    if len(stripped) <= 2 * ASK_CHARS and stripped.count("\n") < 3:
        return stripped
    lines = [line.strip() for line in stripped.split("\n") if line.strip()]
    if len(lines) == 1:
        return lines[0][:ASK_CHARS] + "\n" + lines[0][-ASK_CHARS // 2:]
    return lines[0][:ASK_CHARS] + "\n" + lines[-1][:ASK_CHARS]


def ask_features(text: str, ask: str) -> list[float]:
    """What the ask wants (unscaled): difficulty and ease cues, constraints, parts, and how much of the prompt
    is ask rather than pasted material."""
    return [
        math.log1p(len(_HARD.findall(ask))),
        math.log1p(len(_EASY.findall(ask))),
        math.log1p(len(_CONSTRAINTS.findall(ask))),
        math.log1p(len(_PARTS.findall(ask))),
        math.log1p(len(ask)),
        len(ask) / max(len(text), 1),
        math.log1p(max(len(text) - len(ask), 0)),  # pasted material
        1.0 if len(ask) < 100 else 0.0,
    ]


def shape_features(text: str, excerpt_text: str, n_tokens: int, ask: str) -> list[float]:
    """Prompt shape: how long, how many numbers, how much maths or code notation, and the ask's cues
    (unscaled)."""
    n = max(len(excerpt_text), 1)
    math_chars = len(_MATH_SYMBOLS.findall(excerpt_text))
    code_chars = len(_CODE_SYMBOLS.findall(excerpt_text))
    numbers = _NUMBER.findall(excerpt_text)
    return [
        math.log1p(len(text)),
        math.log1p(n_tokens),
        math.log1p(len(numbers)),
        math.log1p(sum(len(x) for x in numbers)),
        math_chars / n * 10,
        code_chars / n * 10,
        math.log1p(excerpt_text.count("\n")),
        math.log1p(excerpt_text.count("?")),
        1.0 if "```" in excerpt_text else 0.0,
        *ask_features(text, ask),
    ]


@dataclass(frozen=True, slots=True)
class Features:
    """One prompt's features: sparse token n-grams (indices, shared value) and the dense block."""

    indices: np.ndarray  # int64, unique, into [0, vocab + BIGRAM_BUCKETS + ASK_BUCKETS)
    value: float  # every sparse feature has this value (binary, L2-normalised)
    embedding: np.ndarray  # (dim,) unit length or zeros
    shape: np.ndarray  # (N_SHAPE,) unscaled
    ask_embedding: np.ndarray  # (dim,) the ask's own embedding (the prompt's when it is all ask)


def _unit(vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    mean = vectors[ids].sum(axis=0, dtype=np.float32)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def featurise(embedder: Embedder, text: str) -> Features:
    part = excerpt(text)
    ids = embedder.tokenizer.encode(part)
    ask = ask_text(part)
    vocab = len(embedder.vectors)
    ask_base = vocab + BIGRAM_BUCKETS
    if ids:
        tokens = np.fromiter(ids, dtype=np.int64, count=len(ids))
        bigrams = (tokens[:-1] * 1_000_003 + tokens[1:]) % BIGRAM_BUCKETS + vocab
        head = (tokens[:EDGE_TOKENS] * 999_983 + 1) % BIGRAM_BUCKETS + vocab
        tail = (tokens[-EDGE_TOKENS:] * 999_979 + 2) % BIGRAM_BUCKETS + vocab
        ask_tokens = tokens if ask == part else np.asarray(embedder.tokenizer.encode(ask), dtype=np.int64)
        blocks = [tokens, bigrams, head, tail]
        if len(ask_tokens):
            blocks.append((ask_tokens * 999_961 + 3) % ASK_BUCKETS + ask_base)
            blocks.append((ask_tokens[:-1] * 1_000_033 + ask_tokens[1:]) % ASK_BUCKETS + ask_base)
        indices = np.unique(np.concatenate(blocks))
        embedding = _unit(embedder.vectors, tokens)
        ask_embedding = embedding if ask == part or not len(ask_tokens) else _unit(embedder.vectors, ask_tokens)
    else:
        indices = np.zeros(0, dtype=np.int64)
        embedding = ask_embedding = np.zeros(embedder.dim, dtype=np.float32)
    value = 1.0 / math.sqrt(len(indices)) if len(indices) else 0.0
    shape = np.asarray(shape_features(text, part, len(ids), ask), dtype=np.float32)
    return Features(indices, value, embedding.astype(np.float32), shape, ask_embedding.astype(np.float32))


def complexity_confidence(score: float, threshold: float) -> float:
    """How sure the complexity label is, 0.5-1: 0.5 at the threshold, 1 at the end of the scale on the label's
    side. At the default threshold (0.5) it is the calibrated probability of the label given, max(p, 1 - p);
    with a threshold moved by the strong-share dial it stays the distance from the threshold, scaled to the
    room on the wider side, so the same minimum confidence reads alike for task type and complexity."""
    room = max(threshold, 1.0 - threshold)
    if room <= 0.0:
        return 1.0
    return min(1.0, 0.5 + abs(score - threshold) / (2.0 * room))


@dataclass(frozen=True, slots=True)
class Classification:
    task_type: str | None  # a trained label, None for the none/other class
    confidence: float  # 0-1, the probability of that task-type answer (the task-type confidence)
    complexity: str  # "simple" | "complex"
    score: float  # 0-1, higher = more complex; calibrated: P(complex) to a human labeller
    complexity_confidence: float = 1.0  # 0.5-1, see complexity_confidence()


@dataclass(frozen=True, slots=True)
class LinearHead:
    """logits = sparse rows summed * value + embedding @ dense_emb + ask embedding @ dense_ask
    + scaled shape @ dense_shape + bias."""

    sparse: np.ndarray  # (vocab + BIGRAM_BUCKETS + ASK_BUCKETS, k) float32 (float16 in the file)
    dense_emb: np.ndarray  # (dim, k)
    dense_ask: np.ndarray  # (dim, k)
    dense_shape: np.ndarray  # (N_SHAPE, k)
    bias: np.ndarray  # (k,)

    def logits(self, f: Features, shape_scaled: np.ndarray, emb_weight: float) -> np.ndarray:
        out = (self.bias + (f.embedding * emb_weight) @ self.dense_emb + (f.ask_embedding * emb_weight) @ self.dense_ask
               + shape_scaled @ self.dense_shape)
        if len(f.indices):
            out = out + self.sparse[f.indices].sum(axis=0, dtype=np.float32) * f.value
        return out


@dataclass(frozen=True, slots=True)
class DomainPrior:
    """P(domain | embedding) (softmax) dotted with each domain's measured gain from the strong model."""

    weights: np.ndarray  # (dim, domains)
    bias: np.ndarray  # (domains,)
    gain: np.ndarray  # (domains,) share of prompts the weak model failed and the strong one solved
    beta: float  # weight of its logit in the complexity score

    def logit(self, embedding: np.ndarray) -> float:
        z = embedding @ self.weights + self.bias
        p = np.exp(z - z.max())
        g = float(p @ self.gain / p.sum())
        g = min(max(g, 1e-3), 1 - 1e-3)
        return self.beta * math.log(g / (1 - g))


class Classifier:
    """Task type (one of `labels`, or None) and complexity of a prompt. Thread-safe: no state changes after load."""

    labels: tuple[str, ...]

    def __init__(self, embedder: Embedder, classes: tuple[str, ...], task: LinearHead, complexity: LinearHead,
                 domain: DomainPrior, calibration: tuple[float, float], shape_mean: np.ndarray,
                 shape_std: np.ndarray, emb_weight: float) -> None:
        self.embedder = embedder
        self.classes = classes  # the task head's outputs: the labels and "none"
        self.labels = tuple(c for c in classes if c != "none")
        self._task = task
        self._complexity = complexity
        self._domain = domain
        self._calibration = calibration
        self._shape_mean = shape_mean
        self._shape_std = shape_std
        self._emb_weight = emb_weight
        # Both heads as one (task logits, then the complexity logit): one sparse gather and one product per
        # block for a request instead of two; the same numbers (classify checks against the heads apart).
        self._both = LinearHead(*(np.concatenate([getattr(task, part), getattr(complexity, part)], axis=-1)
                                  for part in ("sparse", "dense_emb", "dense_ask", "dense_shape", "bias")))

    @classmethod
    def load(cls, path: str | Path | None = None) -> Classifier:
        """The shipped model by default (and the shared embedder it was trained with)."""
        with np.load(Path(path) if path is not None else DEFAULT_MODEL, allow_pickle=False) as data:
            embedder = Embedder.load(MODELS_DIR / str(data["embedder_file"]))
            if str(data["embedder_name"]) != embedder.name:
                raise ValueError(f"classifier was trained on {data['embedder_name']}, found {embedder.name}")

            def head(prefix: str) -> LinearHead:
                return LinearHead(
                    # float16 in the file, float32 here: gathering and summing float16 rows is numpy's slow path
                    data[f"{prefix}_sparse"].astype(np.float16).astype(np.float32),
                    *(data[f"{prefix}_{part}"].astype(np.float32) for part in ("emb", "ask", "shape", "bias")),
                )

            return cls(
                embedder,
                tuple(str(data["classes"]).split(",")),
                head("task"),
                head("complexity"),
                DomainPrior(
                    data["domain_weights"].astype(np.float32),
                    data["domain_bias"].astype(np.float32),
                    data["domain_gain"].astype(np.float32),
                    float(data["domain_beta"]),
                ),
                (float(data["calibration"][0]), float(data["calibration"][1])),
                data["shape_mean"].astype(np.float32),
                data["shape_std"].astype(np.float32),
                float(data["emb_weight"]),
            )

    def features(self, text: str) -> Features:
        return featurise(self.embedder, text)

    def task_probabilities(self, f: Features) -> np.ndarray:
        z = self._task.logits(f, self._scaled(f), self._emb_weight)
        z = np.exp(z - z.max())
        return z / z.sum()

    def complexity_logit(self, f: Features) -> float:
        """The uncalibrated ranking score: the outcome head's logit plus the domain prior's."""
        return float(self._complexity.logits(f, self._scaled(f), self._emb_weight)[0]) + self._domain.logit(f.embedding)

    def complexity_score(self, f: Features) -> float:
        # Platt scaling fitted on the handwritten simple/complex labels: monotone, so the routing order (and
        # APGR) is the outcome model's, while 0.5 means "as likely complex as not" to a human labeller.
        a, b = self._calibration
        z = a * self.complexity_logit(f) + b
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def classify(self, text: str, complex_threshold: float = 0.5) -> Classification:
        f = self.features(text)
        both = self._both.logits(f, self._scaled(f), self._emb_weight)
        z = both[:-1]
        z = np.exp(z - z.max())
        p = z / z.sum()
        best = int(p.argmax())
        label = self.classes[best]
        a, b = self._calibration
        logit = a * (float(both[-1]) + self._domain.logit(f.embedding)) + b
        score = 1.0 / (1.0 + math.exp(-max(min(logit, 40.0), -40.0)))
        return Classification(
            task_type=None if label == "none" else label,
            confidence=float(p[best]),
            complexity="complex" if score >= complex_threshold else "simple",
            score=score,
            complexity_confidence=complexity_confidence(score, complex_threshold),
        )

    def _scaled(self, f: Features) -> np.ndarray:
        return (f.shape - self._shape_mean) / self._shape_std
