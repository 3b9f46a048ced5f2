"""Infers a request's task type and complexity when the caller named no task type.

Two linear heads over one cheap feature vector, computed once per prompt:
- the WordPiece tokens of the prompt (the static embedder's tokenizer), as binary unigram features plus hashed
  token bigrams and the first and last tokens as features of their own (2^18 buckets), L2-normalised;
- the prompt's static embedding (switchboard.embeddings: the same model file the semantic cache uses);
- a few shape features (length, digits, symbols, lines, code fences), standardised.
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
# The first and last few tokens also count as features of their own: that is where a request says what it wants
# ("Summarize ...", "Write a haiku ...", "... TL;DR?").
EDGE_TOKENS = 8

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MATH_SYMBOLS = re.compile(r"[-+*/=^<>%√∑∫π≤≥×÷]")
_CODE_SYMBOLS = re.compile(r"[{}\[\]();_#<>]")
N_SHAPE = 9


def excerpt(text: str) -> str:
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def shape_features(text: str, excerpt_text: str, n_tokens: int) -> list[float]:
    """Prompt shape: how long, how many numbers, how much maths or code notation (unscaled)."""
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
    ]


@dataclass(frozen=True, slots=True)
class Features:
    """One prompt's features: sparse token n-grams (indices, shared value) and the dense block."""

    indices: np.ndarray  # int64, unique, into [0, vocab + BIGRAM_BUCKETS)
    value: float  # every sparse feature has this value (binary, L2-normalised)
    embedding: np.ndarray  # (dim,) unit length or zeros
    shape: np.ndarray  # (N_SHAPE,) unscaled


def featurise(embedder: Embedder, text: str) -> Features:
    part = excerpt(text)
    ids = embedder.tokenizer.encode(part)
    vocab = len(embedder.vectors)
    if ids:
        tokens = np.fromiter(ids, dtype=np.int64, count=len(ids))
        bigrams = (tokens[:-1] * 1_000_003 + tokens[1:]) % BIGRAM_BUCKETS + vocab
        head = (tokens[:EDGE_TOKENS] * 999_983 + 1) % BIGRAM_BUCKETS + vocab
        tail = (tokens[-EDGE_TOKENS:] * 999_979 + 2) % BIGRAM_BUCKETS + vocab
        indices = np.unique(np.concatenate((tokens, bigrams, head, tail)))
        mean = embedder.vectors[tokens].sum(axis=0, dtype=np.float32)
        norm = float(np.linalg.norm(mean))
        embedding = mean / norm if norm > 0 else mean
    else:
        indices = np.zeros(0, dtype=np.int64)
        embedding = np.zeros(embedder.dim, dtype=np.float32)
    value = 1.0 / math.sqrt(len(indices)) if len(indices) else 0.0
    shape = np.asarray(shape_features(text, part, len(ids)), dtype=np.float32)
    return Features(indices, value, embedding.astype(np.float32), shape)


@dataclass(frozen=True, slots=True)
class Classification:
    task_type: str | None  # a trained label, None for the none/other class
    confidence: float  # 0-1, the probability of that task-type answer
    complexity: str  # "simple" | "complex"
    score: float  # 0-1, higher = more complex


@dataclass(frozen=True, slots=True)
class LinearHead:
    """logits = sparse rows summed * value + embedding @ dense_emb + scaled shape @ dense_shape + bias."""

    sparse: np.ndarray  # (vocab + BIGRAM_BUCKETS, k) float16, summed in float32
    dense_emb: np.ndarray  # (dim, k)
    dense_shape: np.ndarray  # (N_SHAPE, k)
    bias: np.ndarray  # (k,)

    def logits(self, f: Features, shape_scaled: np.ndarray, emb_weight: float) -> np.ndarray:
        out = self.bias + (f.embedding * emb_weight) @ self.dense_emb + shape_scaled @ self.dense_shape
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

    @classmethod
    def load(cls, path: str | Path | None = None) -> Classifier:
        """The shipped model by default (and the shared embedder it was trained with)."""
        with np.load(Path(path) if path is not None else DEFAULT_MODEL, allow_pickle=False) as data:
            embedder = Embedder.load(MODELS_DIR / str(data["embedder_file"]))
            if str(data["embedder_name"]) != embedder.name:
                raise ValueError(f"classifier was trained on {data['embedder_name']}, found {embedder.name}")

            def head(prefix: str) -> LinearHead:
                return LinearHead(
                    data[f"{prefix}_sparse"].astype(np.float16),
                    *(data[f"{prefix}_{part}"].astype(np.float32) for part in ("emb", "shape", "bias")),
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
        p = self.task_probabilities(f)
        best = int(p.argmax())
        label = self.classes[best]
        score = self.complexity_score(f)
        return Classification(
            task_type=None if label == "none" else label,
            confidence=float(p[best]),
            complexity="complex" if score >= complex_threshold else "simple",
            score=score,
        )

    def _scaled(self, f: Features) -> np.ndarray:
        return (f.shape - self._shape_mean) / self._shape_std
