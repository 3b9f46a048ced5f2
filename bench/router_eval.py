"""Measure the shipped classifier on held-out data: task type, complexity routing, latency and memory.

Held-out data (training/corpora.py decides the split by a hash of each prompt; no training step reads it):
- task type: 25% of the handwritten prompts (all seven classes) and 30% of the Arena-Hard prompts (coding,
  math, creative_writing);
- complexity: 30% of RouteLLM's GSM8K and MMLU prompts and all of MT-Bench (contaminated prompts dropped), scored
  with RouteLLM's APGR and CPT(50%) next to the random and prompt-length baselines, and the handwritten held-out
  prompts' simple/complex labels;
- latency: one `classify` call per held-out prompt, on one core, in a cold pass (empty word cache) and a warm one.

    .venv/bin/python bench/router_eval.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "service"))
sys.path.insert(0, str(ROOT / "training"))

from corpora import ALL_CLASSES, routellm_sets, task_type_sets
from metrics import apgr, confusion, cpt, macro_f1, random_apgr


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


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
    _, held = task_type_sets()
    _, outcomes = routellm_sets()

    # Latency first, while the word cache is cold.
    texts = [p.text for p in held] + [o.text for o in outcomes if o.source != "mmlu"][:600]
    passes = []
    for _ in range(2):
        times = []
        for text in texts:
            t0 = time.perf_counter()
            classifier.classify(text)
            times.append((time.perf_counter() - t0) * 1000)
        passes.append(times)
    final = rss_mb()

    print(f"classifier: {classifier.embedder.name} features, labels {classifier.labels}")
    print(f"start-up: import {1000 * (imported - started):.0f} ms, Classifier.load() {1000 * (loaded - imported):.0f} ms")
    print(f"memory: +{after - before:.0f} MB RSS for import + load + first decisions ({before:.0f} -> {after:.0f} MB); "
          f"+{final - after:.0f} MB more after {len(texts) * 2} decisions (word cache, evaluation data)")
    lengths = [len(t) for t in texts]
    print(f"decision latency, one core, {len(texts)} prompts ({min(lengths)}-{max(lengths)} chars, median "
          f"{statistics.median(lengths):.0f}); machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    for name, times in zip(("cold word cache", "warm word cache"), passes):
        print(f"  {name}: p50 {percentile(times, 50):.3f} ms  p99 {percentile(times, 99):.3f} ms  "
              f"max {max(times):.3f} ms")

    # Task type.
    predictions = [classifier.classify(p.text) for p in held]
    pred = [c.task_type or "none" for c in predictions]
    truth = [p.task for p in held]
    print("\nTASK TYPE (held-out)")
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
    print("  confusion matrix, all held-out (rows: truth, columns: predicted):")
    print("    " + " " * 22 + " ".join(f"{s:>8s}" for s in short))
    for c, row in zip(ALL_CLASSES, matrix):
        print(f"    {c:22s}" + " ".join(f"{v:8d}" for v in row))

    # Complexity.
    print("\nCOMPLEXITY: routing by score on RouteLLM outcomes (held-out; APGR higher is better, CPT(50%) lower)")
    print(f"  {'benchmark':10s} {'n':>5s} | {'classifier':>17s} | {'prompt length':>17s} | {'random':>17s}")
    for bench in ("gsm8k", "mmlu", "mt-bench"):
        rows = [o for o in outcomes if o.source == bench]
        weak = np.array([o.weak for o in rows])
        strong = np.array([o.strong for o in rows])
        score = np.array([classifier.classify(o.text).score for o in rows])
        length = np.array([len(o.text) for o in rows], dtype=float)
        r_apgr, r_cpt = random_apgr(weak, strong)
        print(f"  {bench:10s} {len(rows):5d} | APGR {apgr(score, weak, strong):.3f} CPT {cpt(score, weak, strong):.2f} "
              f"| APGR {apgr(length, weak, strong):.3f} CPT {cpt(length, weak, strong):.2f} "
              f"| APGR {r_apgr:.3f} CPT {r_cpt:.2f}")
    labelled = [(p, c) for p, c in zip(held, predictions) if p.complexity]
    agree = sum((c.complexity == p.complexity) for p, c in labelled) / len(labelled)
    complex_share = sum(c.complexity == "complex" for _, c in labelled) / len(labelled)
    print(f"  handwritten held-out simple/complex labels at threshold 0.5: {agree:.3f} agree "
          f"(n={len(labelled)}, {complex_share:.0%} predicted complex, "
          f"{sum(p.complexity == 'complex' for p, _ in labelled) / len(labelled):.0%} labelled complex)")
    examples = ["hi", "thanks!", "Write a haiku about autumn.",
                ("Prove that there are infinitely many primes, then show the gaps between consecutive primes are "
                "unbounded, and bound the n-th prime from above."),
                "Implement a lock-free multi-producer queue in C++ with hazard pointers and prove it linearizable."]
    for text in examples:
        c = classifier.classify(text)
        print(f"  {c.score:.2f} {c.complexity:7s} {c.task_type or 'none':22s} {text[:70]!r}")


if __name__ == "__main__":
    main()
