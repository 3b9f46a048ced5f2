"""Measure the shipped classifier on held-out data: task type, complexity, the cost-quality curve, latency, memory.

Held-out data (training/corpora.py; no training step reads it, and none chose a model with it):
- issue 25's handwritten set (training/data/heldout/, 409 prompts in seven task types, simple/complex marks,
  112 of them length-decorrelated: short but hard, long but easy): task-type macro-F1, complexity balanced
  accuracy at the default threshold beside what prompt length alone reaches, and the decision latency;
- 25% of the older handwritten prompts and 30% of Arena-Hard (coding, math, creative_writing): task type;
- 30% of RouteLLM's GSM8K and MMLU prompts and all of MT-Bench (contaminated prompts dropped): RouteLLM's APGR
  and CPT(50%) beside random and prompt-length routing, and the cost-quality curve: for a strong share s the
  threshold is the (1 - s) quantile of the scores (routing/calibrate.py, as the `strong_share` dial sets it),
  quality comes from RouteLLM's per-prompt outcomes (GPT-4 strong, Mixtral weak) and cost from the gateway's
  price table for its strong and cheap pair (gpt-5.4, gpt-5.4-mini), each request priced with its prompt's
  estimated tokens and OUTPUT_TOKENS of answer.

    .venv/bin/python bench/router_eval.py
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "service"))
sys.path.insert(0, str(ROOT / "training"))

from corpora import ALL_CLASSES, heldout_prompts, routellm_sets, task_type_sets
from metrics import apgr, balanced_accuracy, best_balanced_accuracy, confusion, cpt, macro_f1, random_apgr

STRONG = ("openai", "gpt-5.4")
CHEAP = ("openai", "gpt-5.4-mini")
OUTPUT_TOKENS = 300  # an assumed answer length: the same for both models, so it only weights prompts
SHARES = [i / 10 for i in range(11)]
QUALITY_TARGET = 0.95  # the headline's "y% of the strong model's quality", as RouteLLM states its result


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def prices():
    from switchboard.core.request import CHARS_PER_TOKEN
    from switchboard.pricing import load_price_table

    table = load_price_table()
    strong, cheap = table.get(*STRONG), table.get(*CHEAP)
    assert strong is not None and cheap is not None, "the price table lacks the strong or the cheap model"
    return table.version, strong, cheap, CHARS_PER_TOKEN


def curve(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, texts: list[str], shares: list[float]):
    """(share asked, share sent strong, PGR, quality / strong quality, cost / all-strong cost) per strong share."""
    from switchboard.routing.calibrate import threshold_for_share

    _, p_strong, p_cheap, chars_per_token = prices()
    tokens_in = np.array([-(-len(t) // chars_per_token) for t in texts], dtype=float)
    cost_strong = (tokens_in * p_strong.input + OUTPUT_TOKENS * p_strong.output) / 1e6
    cost_cheap = (tokens_in * p_cheap.input + OUTPUT_TOKENS * p_cheap.output) / 1e6
    w, s = float(weak.mean()), float(strong.mean())
    rows = []
    for share in shares:
        to_strong = scores >= threshold_for_share(scores.tolist(), share)
        quality = float(np.where(to_strong, strong, weak).mean())
        cost = float(np.where(to_strong, cost_strong, cost_cheap).sum() / cost_strong.sum())
        rows.append((share, float(to_strong.mean()), (quality - w) / (s - w), quality / s, cost))
    return rows


def headline_point(scores, weak, strong, texts):
    """The cheapest point (strong share in 1% steps) whose quality reaches QUALITY_TARGET of the strong model's."""
    fine = curve(scores, weak, strong, texts, [i / 100 for i in range(101)])
    for row in fine:
        if row[3] >= QUALITY_TARGET:
            return row
    return fine[-1]


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    import switchboard  # noqa: F401  (the gateway's own imports are not the classifier's cost)

    before = rss_mb()
    started = time.perf_counter()
    from switchboard.routing.classifier import Classifier

    imported = time.perf_counter()
    classifier = Classifier.load()
    loaded = time.perf_counter()
    for text in ("hi", "Write a haiku about autumn.", "Summarize this: " + "The board met today. " * 400):
        classifier.classify(text)
    after = rss_mb()  # before the evaluation data is read, which is no part of the classifier
    new = heldout_prompts()
    _, held = task_type_sets()
    _, outcomes = routellm_sets()

    # Latency first, while the word cache is cold: issue 25's held-out prompts, then the older held-out sets.
    texts = [p.text for p in new] + [p.text for p in held] + [o.text for o in outcomes if o.source != "mmlu"][:600]
    passes = []
    for _ in range(2):
        times = []
        for text in texts:
            t0 = time.perf_counter()
            classifier.classify(text)
            times.append((time.perf_counter() - t0) * 1000)
        passes.append(times)
    final = rss_mb()

    print(f"classifier: {classifier.embedder.name} features, labels {classifier.labels}; run {datetime.date.today()}")
    print(f"start-up: import {1000 * (imported - started):.0f} ms, Classifier.load() {1000 * (loaded - imported):.0f} ms")
    print(f"memory: +{after - before:.0f} MB RSS for import + load + first decisions ({before:.0f} -> {after:.0f} MB); "
          f"+{final - after:.0f} MB more after {len(texts) * 2} decisions (word cache, evaluation data)")
    lengths = [len(t) for t in texts]
    print(f"decision latency, one core, {len(texts)} prompts ({min(lengths)}-{max(lengths)} chars, median "
          f"{statistics.median(lengths):.0f}); second stage: none (a single stage decides every prompt); "
          f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    for name, times in zip(("cold word cache", "warm word cache"), passes):
        print(f"  {name}: p50 {percentile(times, 50):.3f} ms  p99 {percentile(times, 99):.3f} ms  "
              f"max {max(times):.3f} ms")
    first = passes[0][:len(new)]
    print(f"  issue 25 held-out prompts only ({len(new)}), cold: p50 {percentile(first, 50):.3f} ms  "
          f"p99 {percentile(first, 99):.3f} ms")

    # Issue 25's held-out set.
    results = [classifier.classify(p.text) for p in new]
    truth = [p.task for p in new]
    pred = [c.task_type or "none" for c in results]
    f1, per = macro_f1(truth, pred, ALL_CLASSES)
    accuracy = sum(a == b for a, b in zip(truth, pred)) / len(truth)
    print(f"\nISSUE 25 HELD-OUT SET (n={len(new)}, {sum(bool(p.kind) for p in new)} length-decorrelated)")
    print(f"  task type: macro-F1 {f1:.3f}  accuracy {accuracy:.3f}  per class: "
          + ", ".join(f"{c} {per[c]:.2f}" for c in ALL_CLASSES))
    is_complex = np.array([p.complexity == "complex" for p in new])
    predicted = np.array([c.complexity == "complex" for c in results])
    length = np.array([len(p.text) for p in new], dtype=float)
    train, _ = task_type_sets()
    labelled = [p for p in train if p.complexity and p.source.startswith("handwritten")]
    train_len = np.array([len(p.text) for p in labelled], dtype=float)
    train_truth = np.array([p.complexity == "complex" for p in labelled])
    cut = max(np.unique(train_len), key=lambda t: balanced_accuracy(train_truth, train_len >= t))
    print(f"  complexity, balanced accuracy at threshold 0.5: classifier {balanced_accuracy(is_complex, predicted):.3f}"
          f" | prompt length alone: {balanced_accuracy(is_complex, length >= cut):.3f} at the length threshold "
          f"fitted on the training prompts ({cut:.0f} chars), {best_balanced_accuracy(is_complex, length):.3f} "
          f"at the best threshold for this set")
    for kind, name, want in (("sh", "short but hard", True), ("le", "long but easy", False), ("", "the rest", None)):
        idx = np.array([p.kind == kind for p in new])
        right = predicted[idx] == is_complex[idx]
        by_length = (length[idx] >= cut) == is_complex[idx]
        print(f"  {name:15s} n={idx.sum():3d}: classifier right on {right.mean():.0%}, length alone on "
              f"{by_length.mean():.0%}")
    confidences = np.array([c.complexity_confidence for c in results])
    unsure = np.array([c.confidence < 0.5 for c in results])
    print(f"  task-type confidence < 0.5 on {unsure.mean():.0%}; of those, complexity confidence >= 0.7 on "
          f"{(confidences[unsure] >= 0.7).mean():.0%} (the tier rule still decides on complexity there)")

    # Older held-out task-type sets.
    predictions = [classifier.classify(p.text) for p in held]
    pred = [c.task_type or "none" for c in predictions]
    truth = [p.task for p in held]
    print("\nTASK TYPE (older held-out sets)")
    for name, keep in (("handwritten", lambda p: p.source == "handwritten"),
                       ("arena-hard", lambda p: p.source == "arena-hard"), ("all", lambda p: True)):
        idx = [i for i, p in enumerate(held) if keep(p)]
        t, q = [truth[i] for i in idx], [pred[i] for i in idx]
        f1, per = macro_f1(t, q, ALL_CLASSES)
        accuracy = sum(a == b for a, b in zip(t, q)) / len(t)
        classes = [c for c in ALL_CLASSES if c in t]
        print(f"  {name:11s} n={len(idx):4d}  macro-F1 {f1:.3f}  accuracy {accuracy:.3f}  per class: "
              + ", ".join(f"{c} {per[c]:.2f}" for c in classes))
    matrix = confusion(truth, pred, ALL_CLASSES)
    short = [c[:8] for c in ALL_CLASSES]
    print("  confusion matrix, older held-out (rows: truth, columns: predicted):")
    print("    " + " " * 22 + " ".join(f"{s:>8s}" for s in short))
    for c, row in zip(ALL_CLASSES, matrix):
        print(f"    {c:22s}" + " ".join(f"{v:8d}" for v in row))
    agree = [(p, c) for p, c in zip(held, predictions) if p.complexity]
    print(f"  older handwritten held-out simple/complex labels at threshold 0.5: "
          f"{sum(c.complexity == p.complexity for p, c in agree) / len(agree):.3f} agree (n={len(agree)})")

    # Complexity on RouteLLM outcomes, and the cost-quality curve.
    print("\nCOMPLEXITY: routing by score on RouteLLM outcomes (held-out; APGR higher is better, CPT(50%) lower)")
    print(f"  {'benchmark':10s} {'n':>5s} | {'classifier':>17s} | {'prompt length':>17s} | {'random':>17s}")
    scored = {}
    for bench in ("gsm8k", "mmlu", "mt-bench"):
        rows = [o for o in outcomes if o.source == bench]
        weak = np.array([o.weak for o in rows])
        strong = np.array([o.strong for o in rows])
        score = np.array([classifier.classify(o.text).score for o in rows])
        scored[bench] = (score, weak, strong, [o.text for o in rows])
        length = np.array([len(o.text) for o in rows], dtype=float)
        r_apgr, r_cpt = random_apgr(weak, strong)
        print(f"  {bench:10s} {len(rows):5d} | APGR {apgr(score, weak, strong):.3f} CPT {cpt(score, weak, strong):.2f} "
              f"| APGR {apgr(length, weak, strong):.3f} CPT {cpt(length, weak, strong):.2f} "
              f"| APGR {r_apgr:.3f} CPT {r_cpt:.2f}")

    version, p_strong, p_cheap, _ = prices()
    print(f"\nCOST-QUALITY CURVE (shipped classifier, held-out outcomes; price table {version}: "
          f"{'/'.join(STRONG)} ${p_strong.input}/${p_strong.output}, {'/'.join(CHEAP)} ${p_cheap.input}/"
          f"${p_cheap.output} per million input/output tokens, {OUTPUT_TOKENS} output tokens assumed)")
    print("  strong share asked -> sent strong | share of the strong model's quality gain kept (PGR) | "
          "quality / strong | cost / all-strong")
    headline = []
    for bench, (score, weak, strong, texts_) in scored.items():
        print(f"  {bench} (weak {weak.mean():.3f}, strong {strong.mean():.3f}):")
        for share, sent, pgr, ratio, cost in curve(score, weak, strong, texts_, SHARES):
            print(f"    {share:4.0%} -> {sent:4.0%} | {pgr:6.1%} | {ratio:6.1%} | {cost:6.1%}")
        share, sent, pgr, ratio, cost = headline_point(score, weak, strong, texts_)
        headline.append((bench, 1 - cost, ratio, sent))
    date = datetime.date.today().isoformat()
    print(f"\nHEADLINE ({date}, held-out RouteLLM outcomes, price table {version}): " + "; ".join(
        f"{saved:.0%} of the cost saved at {ratio:.0%} of the strong model's quality on {bench} "
        f"({sent:.0%} sent strong)" for bench, saved, ratio, sent in headline))

    examples = ["hi", "thanks!", "Write a haiku about autumn.", "Prove the infinitude of primes",
                ("Explain how the Raft consensus algorithm handles a network partition where the old leader is "
                 "isolated with a minority of nodes, including what happens to uncommitted log entries on both "
                 "sides when the partition heals"),
                "Implement a lock-free multi-producer queue in C++ with hazard pointers and prove it linearizable."]
    print()
    for text in examples:
        c = classifier.classify(text)
        print(f"  {c.score:.2f} {c.complexity:7s} (confidence {c.complexity_confidence:.2f}) "
              f"{c.task_type or 'none':22s} (confidence {c.confidence:.2f}) {text[:60]!r}")


if __name__ == "__main__":
    main()
