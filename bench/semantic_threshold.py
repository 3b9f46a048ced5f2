"""Calibrate and measure the semantic cache's decision on training/data/semantic_pairs.jsonl.

Each pair is either a paraphrase (same answer: should hit) or a near miss (similar words, different answer:
must not hit). The "dev" pairs are the ones the guard in `same_meaning` was designed on and the threshold chosen
on (the lowest cosine threshold whose false-hit rate with the guard stays at or under 1%, floored at 0.75 for a
margin the dev pairs cannot show); the "holdout" pairs were written after both were frozen and never used to
tune anything. Also prints cosine alone (no guard), a sweep, the rates by kind and the cost of one decision.

    .venv/bin/python bench/semantic_threshold.py
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "service"))

from switchboard.embeddings import DEFAULT_THRESHOLD, Embedder, same_meaning

PAIRS = ROOT / "training" / "data" / "semantic_pairs.jsonl"
MAX_FALSE_HITS = 0.01


def rates(hit: np.ndarray, same: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, false-hit rate)."""
    tp, fp = int((hit & same).sum()), int((hit & ~same).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / max(int(same.sum()), 1), fp / max(int((~same).sum()), 1)


def main() -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").split("\n") if line.strip()]
    embedder = Embedder.load()
    a = embedder.embed([p["a"] for p in pairs])
    b = embedder.embed([p["b"] for p in pairs])
    cos = (a * b).sum(axis=1)
    same = np.array([p["same"] for p in pairs])
    dev = np.array([p["split"] == "dev" for p in pairs])
    kinds = Counter(p["kind"] for p in pairs)
    print(f"{len(pairs)} pairs: {int(same.sum())} paraphrases, {int((~same).sum())} near misses "
          f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()) if k != 'paraphrase')}); "
          f"dev {int(dev.sum())} / holdout {int((~dev).sum())}; model {embedder.name}")

    def decide(threshold: float) -> np.ndarray:
        return np.array([same_meaning(p["a"], p["b"], float(c), threshold) for p, c in zip(pairs, cos)])

    print("\nsweep on dev pairs")
    print("threshold  | cosine only: prec  recall  false-hits | with guard: prec  recall  false-hits")
    grid = np.round(np.arange(0.60, 0.981, 0.02), 2)
    chosen = None
    for t in grid:
        p0, r0, f0 = rates((cos >= t)[dev], same[dev])
        hit = decide(float(t))
        p1, r1, f1 = rates(hit[dev], same[dev])
        print(f"  {t:.2f}     |        {p0:.3f}  {r0:.3f}  {f0:.3f}      |          {p1:.3f}  {r1:.3f}  {f1:.3f}")
        if chosen is None and f1 <= MAX_FALSE_HITS:
            chosen = max(float(t), 0.75)
    print(f"\nchosen on dev (lowest threshold with false hits <= {MAX_FALSE_HITS:.0%}, at least 0.75): {chosen}; "
          f"shipped DEFAULT_THRESHOLD = {DEFAULT_THRESHOLD}")

    hit = decide(DEFAULT_THRESHOLD)
    for name, mask in (("holdout", ~dev), ("dev", dev), ("all pairs", np.ones_like(dev))):
        p1, r1, f1 = rates(hit[mask], same[mask])
        p0, r0, f0 = rates((cos >= DEFAULT_THRESHOLD)[mask], same[mask])
        print(f"at {DEFAULT_THRESHOLD}, {name:9s}: guard precision {p1:.3f} recall {r1:.3f} false hits {f1:.3f} "
              f"({int((hit & ~same & mask).sum())}/{int((~same & mask).sum())}) | cosine only: precision {p0:.3f} "
              f"recall {r0:.3f} false hits {f0:.3f}")
    print("\nnear misses that still hit:")
    for p, h in zip(pairs, hit):
        if h and not p["same"]:
            print(f"  [{p['kind']}] {p['a']!r} ~ {p['b']!r}")
    print("hit rate by kind, dev / holdout (cosine only -> with guard); paraphrases should hit, the rest not:")
    for kind in sorted(kinds):
        line = []
        for mask in (dev, ~dev):
            mask = mask & np.array([p["kind"] == kind for p in pairs])
            if mask.any():
                line.append(f"{(cos[mask] >= DEFAULT_THRESHOLD).mean():.2f} -> {hit[mask].mean():.2f} (n={int(mask.sum())})")
            else:
                line.append("-")
        print(f"  {kind:10s} " + "  /  ".join(line))

    texts = [p["a"] for p in pairs[:200]]
    started = time.perf_counter()
    for _ in range(5):
        for t in texts:
            embedder.embed([t])
    embed_us = (time.perf_counter() - started) / (5 * len(texts)) * 1e6
    started = time.perf_counter()
    for _ in range(5):
        for p in pairs:
            same_meaning(p["a"], p["b"], 0.99)
    decide_us = (time.perf_counter() - started) / (5 * len(pairs)) * 1e6
    print(f"\ncost: embed one prompt {embed_us:.0f} us (warm word cache); same_meaning {decide_us:.0f} us")


if __name__ == "__main__":
    main()
