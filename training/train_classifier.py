"""Train the task-type and complexity heads and write service/switchboard/models/classifier.npz.

Features come from switchboard.routing.classifier.featurise, the function the service runs, so training and
serving cannot drift apart. Only the training parts of corpora.py are read here; the held-out parts are for
bench/router_eval.py.

    python training/train_classifier.py [--candidates]   # --candidates: compare feature sets, write nothing
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runtime  # noqa: F401  (registers the switchboard namespace)
from build_embedder import write_npz
from corpora import ALL_CLASSES, routellm_sets, task_type_sets
from metrics import apgr, macro_f1

from switchboard.embeddings import DEFAULT_MODEL as EMBEDDER_FILE
from switchboard.embeddings import Embedder
from switchboard.routing.classifier import (
    BIGRAM_BUCKETS,
    DEFAULT_MODEL,
    N_SHAPE,
    Features,
    featurise,
)

SEED = 0
EMB_WEIGHT = 1.0
TASK_C = 30.0
COMPLEXITY_C = 1.0
# The domain prior's weight in the complexity score: chosen by 5-fold cross-validation on the training outcomes
# (mean APGR over GSM8K and MMLU: 0 -> 0.614, 0.5 -> 0.619, 1 -> 0.616, 2 -> 0.612); see docs/classifier.md.
DOMAIN_BETA = 0.5
DOMAIN_C = 10.0
# Each RouteLLM prompt is one noisy outcome; each handwritten prompt is a deliberate simple/complex judgement.
HANDWRITTEN_WEIGHT = 3.0


def matrix(feats: list[Features], n_sparse: int, shape_mean: np.ndarray, shape_std: np.ndarray,
           use: str = "all") -> sparse.csr_matrix:
    blocks = []
    if use in ("all", "ngrams"):
        rows = np.repeat(np.arange(len(feats)), [len(f.indices) for f in feats])
        cols = np.concatenate([f.indices for f in feats]) if feats else np.zeros(0, dtype=np.int64)
        vals = np.repeat([f.value for f in feats], [len(f.indices) for f in feats])
        blocks.append(sparse.csr_matrix((vals, (rows, cols)), shape=(len(feats), n_sparse)))
    if use in ("all", "embedding"):
        blocks.append(sparse.csr_matrix(np.stack([f.embedding for f in feats]) * EMB_WEIGHT))
    shape = (np.stack([f.shape for f in feats]) - shape_mean) / shape_std
    blocks.append(sparse.csr_matrix(shape))
    return sparse.hstack(blocks).tocsr()


def fit(x: sparse.csr_matrix, y: np.ndarray, c: float, weight: np.ndarray | None = None) -> LogisticRegression:
    # newton-cg: a few Newton steps; lbfgs spends most of its time in bookkeeping over 2M coefficients here.
    return LogisticRegression(C=c, solver="newton-cg", max_iter=200, tol=1e-4).fit(x, y, sample_weight=weight)


def complexity_data(embedder: Embedder):
    """RouteLLM training outcomes (target: the weak model failed and the strong one succeeded) and handwritten
    simple/complex labels."""
    outcomes, _ = routellm_sets()
    prompts, _ = task_type_sets(SEED)
    labelled = [p for p in prompts if p.complexity]
    texts = [o.text for o in outcomes] + [p.text for p in labelled]
    y = np.array([int(o.strong > o.weak) for o in outcomes] + [int(p.complexity == "complex") for p in labelled])
    w = np.array([1.0] * len(outcomes) + [HANDWRITTEN_WEIGHT] * len(labelled))
    source = [o.source for o in outcomes] + ["handwritten"] * len(labelled)
    return texts, y, w, source, outcomes


def fit_domains(outcomes, embeddings) -> tuple[LogisticRegression, np.ndarray]:
    """Which RouteLLM domain (MMLU subject, or GSM8K) a prompt is closest to, and each domain's gain rate."""
    domain = np.array([o.group or o.source for o in outcomes])
    gained = np.array([o.strong > o.weak for o in outcomes], dtype=float)
    model = LogisticRegression(C=DOMAIN_C, max_iter=3000).fit(np.stack(embeddings), domain)
    return model, np.array([gained[domain == d].mean() for d in model.classes_])


def domain_logits(model: LogisticRegression, gain: np.ndarray, embeddings) -> np.ndarray:
    g = np.clip(model.predict_proba(np.stack(embeddings)) @ gain, 1e-3, 1 - 1e-3)
    return np.log(g / (1 - g))


def unpack(model: LogisticRegression, n_sparse: int, dim: int, use: str) -> dict[str, np.ndarray]:
    coef = model.coef_.T  # (features, k): k = classes, or 1 for a binary head
    at = 0
    parts = {}
    for name, width, active in (("sparse", n_sparse, use in ("all", "ngrams")),
                                ("emb", dim, use in ("all", "embedding")), ("shape", N_SHAPE, True)):
        if active:
            parts[name] = coef[at:at + width]
            at += width
        else:
            parts[name] = np.zeros((width, coef.shape[1]))
    parts["bias"] = model.intercept_
    return parts


def candidates(embedder: Embedder) -> None:
    """Compare feature sets by 5-fold cross-validation on the training parts only."""
    n_sparse = len(embedder.vectors) + BIGRAM_BUCKETS
    train, _ = task_type_sets(SEED)
    feats = [featurise(embedder, p.text) for p in train]
    shape = np.stack([f.shape for f in feats])
    mean, std = shape.mean(0), shape.std(0) + 1e-6
    y = np.array([p.task for p in train])
    hand = np.array([p.source == "handwritten" for p in train])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(y, y))
    for use in ("ngrams", "embedding", "all"):
        x = matrix(feats, n_sparse, mean, std, use)
        for c in (TASK_C,):
            pred = np.empty(len(y), dtype=object)
            for tr, te in folds:
                pred[te] = fit(x[tr], y[tr], c).predict(x[te])
            f1, _ = macro_f1(list(y[hand]), list(pred[hand]), ALL_CLASSES)
            f1_all, _ = macro_f1(list(y), list(pred), ALL_CLASSES)
            print(f"task  {use:9s} C={c:<5g} 5-fold macro-F1 handwritten {f1:.3f}  all {f1_all:.3f}", flush=True)

    texts, yc, wc, source, outcomes = complexity_data(embedder)
    feats = [featurise(embedder, t) for t in texts]
    src = np.array(source)
    for use in ("ngrams", "embedding", "all"):
        x = matrix(feats, n_sparse, mean, std, use)
        for c in (0.3, COMPLEXITY_C):
            score = np.zeros(len(yc))
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED).split(yc, src):
                score[te] = fit(x[tr], yc[tr], c, wc[tr]).decision_function(x[te])
            line = []
            for bench in ("gsm8k", "mmlu"):
                idx = np.flatnonzero(src == bench)
                weak = np.array([outcomes[i].weak for i in idx])
                strong = np.array([outcomes[i].strong for i in idx])
                line.append(f"{bench} APGR {apgr(score[idx], weak, strong):.3f}")
            print(f"complexity {use:9s} C={c:<4g} 5-fold " + "  ".join(line), flush=True)


def train(embedder: Embedder, out: Path) -> None:
    n_sparse = len(embedder.vectors) + BIGRAM_BUCKETS
    started = time.perf_counter()
    prompts, _ = task_type_sets(SEED)
    feats = [featurise(embedder, p.text) for p in prompts]
    texts, yc, wc, _, outcomes = complexity_data(embedder)
    cfeats = [featurise(embedder, t) for t in texts]
    shape = np.stack([f.shape for f in feats + cfeats])
    mean, std = shape.mean(0), shape.std(0) + 1e-6

    task_model = fit(matrix(feats, n_sparse, mean, std), np.array([p.task for p in prompts]), TASK_C)
    classes = tuple(str(c) for c in task_model.classes_)
    complexity_model = fit(matrix(cfeats, n_sparse, mean, std), yc, COMPLEXITY_C, wc)
    task = unpack(task_model, n_sparse, embedder.dim, "all")
    comp = unpack(complexity_model, n_sparse, embedder.dim, "all")
    domain_model, gain = fit_domains(outcomes, [f.embedding for f in cfeats[: len(outcomes)]])
    # Calibrate the ranking logit on the handwritten simple/complex labels (the last rows of the complexity data),
    # with out-of-fold logits: in-sample ones are overconfident and would push every score to 0 or 1.
    x_all = matrix(cfeats, n_sparse, mean, std)
    hand = np.arange(len(outcomes), len(texts))
    raw = np.zeros(len(hand))
    for fold_train, fold_test in StratifiedKFold(5, shuffle=True, random_state=SEED).split(hand, yc[hand]):
        keep = np.concatenate((np.arange(len(outcomes)), hand[fold_train]))
        raw[fold_test] = fit(x_all[keep], yc[keep], COMPLEXITY_C, wc[keep]).decision_function(x_all[hand[fold_test]])
    domain_logit = DOMAIN_BETA * domain_logits(domain_model, gain, [f.embedding for f in cfeats[len(outcomes):]])
    platt = LogisticRegression(C=1e6).fit((raw + domain_logit)[:, None], yc[len(outcomes):])
    calibration = np.array([platt.coef_[0, 0], platt.intercept_[0]], dtype=np.float32)

    arrays = {
        "classes": np.array(",".join(classes)),
        "embedder_file": np.array(EMBEDDER_FILE.name),
        "embedder_name": np.array(embedder.name),
        "emb_weight": np.array(EMB_WEIGHT, dtype=np.float32),
        "shape_mean": mean.astype(np.float32),
        "shape_std": std.astype(np.float32),
        "domain_weights": domain_model.coef_.T.astype(np.float32),
        "domain_bias": domain_model.intercept_.astype(np.float32),
        "domain_gain": gain.astype(np.float32),
        "domain_beta": np.array(DOMAIN_BETA, dtype=np.float32),
        "calibration": calibration,
    }
    for prefix, parts in (("task", task), ("complexity", comp)):
        for name, value in parts.items():
            arrays[f"{prefix}_{name}"] = np.asarray(value, dtype=np.float16 if name == "sparse" else np.float32)
    write_npz(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.0f} s: "
          f"{len(prompts)} task prompts, {len(texts)} complexity examples, classes {classes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", action="store_true", help="compare feature sets by cross-validation")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    np.random.seed(SEED)
    embedder = Embedder.load(EMBEDDER_FILE)
    if args.candidates:
        candidates(embedder)
    else:
        train(embedder, args.out)


if __name__ == "__main__":
    main()
