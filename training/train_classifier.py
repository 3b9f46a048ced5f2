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
from metrics import apgr, balanced_accuracy, best_balanced_accuracy, macro_f1

from switchboard.embeddings import DEFAULT_MODEL as EMBEDDER_FILE
from switchboard.embeddings import Embedder
from switchboard.routing.classifier import (
    ASK_BUCKETS,
    BIGRAM_BUCKETS,
    DEFAULT_MODEL,
    N_ASK,
    N_SHAPE,
    Features,
)

SEED = 0
EMB_WEIGHT = 1.0
TASK_C = 30.0
COMPLEXITY_C = 3.0
# The domain prior's weight in the complexity score: chosen by 5-fold cross-validation on the training outcomes
# (mean APGR over GSM8K and MMLU: 0 -> 0.614, 0.5 -> 0.619, 1 -> 0.616, 2 -> 0.612); see docs/classifier.md.
DOMAIN_BETA = 0.5
DOMAIN_C = 10.0
# Each RouteLLM prompt is one noisy outcome; each handwritten prompt is a deliberate simple/complex judgement,
# a templated one a less varied judgement (chosen by cross-validation, see `--candidates`).
HANDWRITTEN_WEIGHT = 10.0
TEMPLATE_WEIGHT = 3.0
# Which heads read the ask features (the ask's words, embedding and cues): chosen by cross-validation.
TASK_ASK = False
COMPLEXITY_ASK = True


def matrix(feats: list[Features], vocab: int, shape_mean: np.ndarray, shape_std: np.ndarray,
           ask: bool = True) -> sparse.csr_matrix:
    """The design matrix: sparse n-grams (with the ask's range or without it), the embedding, the ask's
    embedding (with ask only) and the standardised shape block (its ask columns zero without ask)."""
    n_sparse = vocab + BIGRAM_BUCKETS + ASK_BUCKETS
    limit = n_sparse if ask else vocab + BIGRAM_BUCKETS
    kept = [f.indices[f.indices < limit] for f in feats]
    rows = np.repeat(np.arange(len(feats)), [len(k) for k in kept])
    cols = np.concatenate(kept) if feats else np.zeros(0, dtype=np.int64)
    vals = np.repeat([f.value for f in feats], [len(k) for k in kept])
    blocks = [sparse.csr_matrix((vals, (rows, cols)), shape=(len(feats), n_sparse)),
              sparse.csr_matrix(np.stack([f.embedding for f in feats]) * EMB_WEIGHT)]
    if ask:
        blocks.append(sparse.csr_matrix(np.stack([f.ask_embedding for f in feats]) * EMB_WEIGHT))
    shape = (np.stack([f.shape for f in feats]) - shape_mean) / shape_std
    if not ask:
        shape[:, -N_ASK:] = 0.0
    blocks.append(sparse.csr_matrix(shape))
    return sparse.hstack(blocks).tocsr()


def fit(x: sparse.csr_matrix, y: np.ndarray, c: float, weight: np.ndarray | None = None) -> LogisticRegression:
    # newton-cg: a few Newton steps; lbfgs spends most of its time in bookkeeping over 2M coefficients here.
    return LogisticRegression(C=c, solver="newton-cg", max_iter=200, tol=1e-4).fit(x, y, sample_weight=weight)


def complexity_data(embedder: Embedder):
    """RouteLLM training outcomes (target: the weak model failed and the strong one succeeded) and the
    simple/complex labels of the handwritten and length-decorrelated prompts."""
    outcomes, _ = routellm_sets()
    prompts, _ = task_type_sets(SEED)
    labelled = [p for p in prompts if p.complexity]
    texts = [o.text for o in outcomes] + [p.text for p in labelled]
    y = np.array([int(o.strong > o.weak) for o in outcomes] + [int(p.complexity == "complex") for p in labelled])
    w = np.array([1.0] * len(outcomes) + [TEMPLATE_WEIGHT if p.source.startswith("template") else HANDWRITTEN_WEIGHT
                                          for p in labelled])
    source = [o.source for o in outcomes] + [p.source for p in labelled]
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


def unpack(model: LogisticRegression, vocab: int, dim: int, ask: bool) -> dict[str, np.ndarray]:
    """The fitted coefficients split into the LinearHead's parts (zeros for the blocks it did not read)."""
    coef = model.coef_.T  # (features, k): k = classes, or 1 for a binary head
    n_sparse = vocab + BIGRAM_BUCKETS + ASK_BUCKETS
    at = 0
    parts = {}
    for name, width, active in (("sparse", n_sparse, True), ("emb", dim, True), ("ask", dim, ask),
                                ("shape", N_SHAPE, True)):
        if active:
            parts[name] = coef[at:at + width]
            at += width
        else:
            parts[name] = np.zeros((width, coef.shape[1]))
    assert at == coef.shape[0], (at, coef.shape)
    parts["bias"] = model.intercept_
    return parts


def _oof(x, y, w, c, folds) -> np.ndarray:
    out = np.zeros(len(y))
    for tr, te in folds:
        out[te] = fit(x[tr], y[tr], c, None if w is None else w[tr]).decision_function(x[te])
    return out


def label_weights(src: np.ndarray, n_outcomes: int, hand: float, template: float) -> np.ndarray:
    labelled = np.where(np.char.startswith(src.astype(str), "template"), template, hand)
    return np.where(np.arange(len(src)) < n_outcomes, 1.0, labelled)


def candidates(embedder: Embedder) -> None:
    """Compare feature sets and label weights by 5-fold cross-validation on the training parts only."""
    from classifier_features import featurise_all

    vocab = len(embedder.vectors)
    train, _ = task_type_sets(SEED)
    y = np.array([p.task for p in train])
    hand = np.array([p.source.startswith("handwritten") for p in train])
    arena = np.array([p.source == "arena-hard" for p in train])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(y, y))
    texts, yc, _, source, outcomes = complexity_data(embedder)
    src = np.array(source)
    n_out = len(outcomes)
    lab = np.arange(n_out, len(texts))
    lengths = np.array([len(t) for t in texts], dtype=float)
    feats = featurise_all(embedder, [p.text for p in train])
    cfeats = featurise_all(embedder, texts)
    shape = np.stack([f.shape for f in feats + cfeats])
    mean, std = shape.mean(0), shape.std(0) + 1e-6
    for ask in (False, True):
        x = matrix(feats, vocab, mean, std, ask)
        pred = np.empty(len(y), dtype=object)
        for tr, te in folds:
            pred[te] = fit(x[tr], y[tr], TASK_C).predict(x[te])
        f1, _ = macro_f1(list(y[hand]), list(pred[hand]), ALL_CLASSES)
        f1_arena, _ = macro_f1(list(y[arena]), list(pred[arena]), ALL_CLASSES)
        print(f"task       ask={ask!s:5s} C={TASK_C:g}  macro-F1 handwritten {f1:.3f}  arena-hard {f1_arena:.3f}",
              flush=True)

    domain_model, gain = fit_domains(outcomes, [f.embedding for f in cfeats[:n_out]])
    dlogit = DOMAIN_BETA * domain_logits(domain_model, gain, [f.embedding for f in cfeats])
    cfolds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(yc, src))
    for ask, weights, c in ((False, (3.0, 1.0), 1.0), (True, (3.0, 1.0), 1.0), (True, (10.0, 3.0), 1.0),
                            (True, (20.0, 6.0), 1.0), (True, (10.0, 3.0), 3.0), (True, (10.0, 3.0), 10.0)):
        xc = matrix(cfeats, vocab, mean, std, ask)
        w = label_weights(src, n_out, *weights)
        score = _oof(xc, yc, w, c, cfolds) + dlogit
        line = []
        for bench in ("gsm8k", "mmlu"):
            idx = np.flatnonzero(src == bench)
            weak = np.array([outcomes[i].weak for i in idx])
            strong = np.array([outcomes[i].strong for i in idx])
            line.append(f"APGR {bench} {apgr(score[idx], weak, strong):.3f}")
        platt = LogisticRegression(C=1e6, class_weight="balanced").fit(score[lab][:, None], yc[lab])
        complex_ = platt.predict_proba(score[lab][:, None])[:, 1] >= 0.5
        for group in ("handwritten", "handwritten-decorrelated", "template-decorrelated"):
            m = src[lab] == group
            line.append(f"bal.acc {group} {balanced_accuracy(yc[lab][m], complex_[m]):.3f}")
        print(f"complexity ask={ask!s:5s} label weights {weights[0]:g}/{weights[1]:g} C={c:g}  " + "  ".join(line),
              flush=True)
    for group in ("handwritten", "handwritten-decorrelated", "template-decorrelated"):
        m = src[lab] == group
        print(f"length alone, best threshold: bal.acc {group} "
              f"{best_balanced_accuracy(yc[lab][m], lengths[lab][m]):.3f}")


def train(embedder: Embedder, out: Path) -> None:
    from classifier_features import featurise_all

    vocab = len(embedder.vectors)
    started = time.perf_counter()
    prompts, _ = task_type_sets(SEED)
    feats = featurise_all(embedder, [p.text for p in prompts])
    texts, yc, _, source, outcomes = complexity_data(embedder)
    wc = label_weights(np.array(source), len(outcomes), HANDWRITTEN_WEIGHT, TEMPLATE_WEIGHT)
    cfeats = featurise_all(embedder, texts)
    shape = np.stack([f.shape for f in feats + cfeats])
    mean, std = shape.mean(0), shape.std(0) + 1e-6

    task_model = fit(matrix(feats, vocab, mean, std, TASK_ASK), np.array([p.task for p in prompts]), TASK_C)
    classes = tuple(str(c) for c in task_model.classes_)
    x_all = matrix(cfeats, vocab, mean, std, COMPLEXITY_ASK)
    complexity_model = fit(x_all, yc, COMPLEXITY_C, wc)
    task = unpack(task_model, vocab, embedder.dim, TASK_ASK)
    comp = unpack(complexity_model, vocab, embedder.dim, COMPLEXITY_ASK)
    domain_model, gain = fit_domains(outcomes, [f.embedding for f in cfeats[: len(outcomes)]])
    # Calibrate the ranking logit on the simple/complex labels (the last rows of the complexity data), with
    # out-of-fold logits: in-sample ones are overconfident and would push every score to 0 or 1.
    hand = np.arange(len(outcomes), len(texts))
    raw = np.zeros(len(hand))
    for fold_train, fold_test in StratifiedKFold(5, shuffle=True, random_state=SEED).split(hand, yc[hand]):
        keep = np.concatenate((np.arange(len(outcomes)), hand[fold_train]))
        raw[fold_test] = fit(x_all[keep], yc[keep], COMPLEXITY_C, wc[keep]).decision_function(x_all[hand[fold_test]])
    domain_logit = DOMAIN_BETA * domain_logits(domain_model, gain, [f.embedding for f in cfeats[len(outcomes):]])
    # Class-balanced: 0.5 then means "as likely complex as simple" with equal priors, the point that balances the
    # two kinds of error (5-fold: balanced accuracy 0.897 / 0.831 on the handwritten / decorrelated prompts,
    # against 0.879 / 0.838 unbalanced).
    platt = LogisticRegression(C=1e6, class_weight="balanced").fit((raw + domain_logit)[:, None],
                                                                   yc[len(outcomes):])
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
