"""RouteLLM's routing metrics (arXiv 2406.18665), reimplemented from their definition with numpy only.

A router scores each prompt; for a threshold t every prompt scoring >= t goes to the strong model. RouteLLM takes
the thresholds at the 10-quantile edges of the scores (11 points, from "all strong" to "all weak"), computes the
quality of each routed mix, and integrates with the trapezoid rule over the strong share:
  PGR(c)  = (quality(c) - weak-only quality) / (strong-only - weak-only)
  APGR    = area under PGR(c), c from 0 to 1 (random routing: 0.50)
  CPT(x%) = the strong share at which PGR reaches x%, interpolated between the points.
"""

from __future__ import annotations

import numpy as np


def routing_curve(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, num_results: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(strong share, quality) at RouteLLM's thresholds, sorted by strong share."""
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.quantile(scores, np.linspace(0, 1, num_results + 1))
    shares, quality = [], []
    for i, t in enumerate(thresholds):
        to_strong = scores >= t if i != len(thresholds) - 1 else scores > t
        shares.append(to_strong.mean())
        quality.append(np.where(to_strong, strong, weak).mean())
    order = np.argsort(shares, kind="stable")
    return np.asarray(shares)[order], np.asarray(quality)[order]


def apgr(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, num_results: int = 10) -> float:
    shares, quality = routing_curve(scores, weak, strong, num_results)
    w, s = float(np.mean(weak)), float(np.mean(strong))
    width = shares[-1] - shares[0]
    auc = float(np.trapezoid(quality, shares))
    return (auc - w * width) / ((s - w) * width)


def cpt(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, pgr: float = 0.5, num_results: int = 10) -> float:
    """Smallest strong share (0-1) reaching the given PGR, linearly interpolated (as RouteLLM does)."""
    shares, quality = routing_curve(scores, weak, strong, num_results)
    w, s = float(np.mean(weak)), float(np.mean(strong))
    target = w + pgr * (s - w)
    for i in range(1, len(shares)):
        if quality[i] >= target:
            q0, q1 = quality[i - 1], quality[i]
            if q1 == q0:
                return float(shares[i])
            return float(shares[i - 1] + (target - q0) / (q1 - q0) * (shares[i] - shares[i - 1]))
    return 1.0


def random_apgr(weak: np.ndarray, strong: np.ndarray, iters: int = 10, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    runs = [(apgr(s, weak, strong), cpt(s, weak, strong)) for s in (rng.random(len(weak)) for _ in range(iters))]
    return float(np.mean([r[0] for r in runs])), float(np.mean([r[1] for r in runs]))


def macro_f1(truth: list[str], pred: list[str], classes: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    per = {}
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, pred))
        fp = sum(t != c and p == c for t, p in zip(truth, pred))
        fn = sum(t == c and p != c for t, p in zip(truth, pred))
        per[c] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    present = [c for c in classes if any(t == c for t in truth)]
    return sum(per[c] for c in present) / len(present), per


def confusion(truth: list[str], pred: list[str], classes: tuple[str, ...]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(truth, pred):
        m[index[t], index[p]] += 1
    return m


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the recall on each class (here: complex and simple), so a skewed mix cannot flatter it."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    return float((np.mean(predicted[truth]) + np.mean(~predicted[~truth])) / 2)


def best_balanced_accuracy(truth: np.ndarray, scores: np.ndarray) -> float:
    """The balanced accuracy of a one-feature rule (score >= t) at its best threshold: what length alone can do
    when the threshold is chosen knowing the answers (a generous baseline)."""
    order = np.unique(scores)
    return max(balanced_accuracy(truth, scores >= t) for t in order)
