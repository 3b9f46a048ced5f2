"""Would a small transformer encoder as a second stage earn its place? Measured before building it.

The cascade's second stage would run a real encoder (all-MiniLM-L6-v2, the teacher the static embedder is
distilled from) only for prompts near the complexity threshold. This script measures, on the training parts
only (5-fold cross-validation), how well a logistic head over the encoder's mean-pooled sentence embedding
separates simple from complex prompts, next to the same head over the static embedding, and how long one
encoder pass takes on one CPU thread (torch, float32: an upper bound for ONNX Runtime int8, typically 2-3x
faster). docs/classifier.md keeps the figures and the decision.

    python training/cascade_candidate.py TEACHER_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runtime  # noqa: F401  (registers the switchboard namespace)
from corpora import task_type_sets
from metrics import balanced_accuracy

from switchboard.embeddings import Embedder

SEED = 0


def encode(model, tokenizer, texts: list[str], batch: int = 32) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def oof_balanced(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float) -> dict[str, float]:
    score = np.zeros(len(y))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED).split(x, y):
        score[te] = LogisticRegression(C=c, max_iter=3000).fit(x[tr], y[tr]).decision_function(x[te])
    return {g: balanced_accuracy(y[groups == g], score[groups == g] >= 0) for g in np.unique(groups)}


def main() -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(SEED)
    teacher = Path(sys.argv[1])
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    model = AutoModel.from_pretrained(teacher).eval()
    train, _ = task_type_sets(SEED)
    labelled = [p for p in train if p.complexity]
    texts = [p.text for p in labelled]
    y = np.array([p.complexity == "complex" for p in labelled])
    groups = np.array([p.source for p in labelled])
    started = time.perf_counter()
    encoder = encode(model, tokenizer, texts)
    print(f"encoded {len(texts)} prompts in {time.perf_counter() - started:.0f} s", flush=True)
    static = Embedder.load().embed(texts)
    for name, x in (("static embedding (shipped)", static), ("MiniLM-L6 encoder, mean-pooled", encoder)):
        for c in (1.0, 10.0):
            result = oof_balanced(x, y, groups, c)
            print(f"{name:32s} C={c:<4g} 5-fold balanced accuracy: "
                  + "  ".join(f"{g} {v:.3f}" for g, v in result.items()), flush=True)

    torch.set_num_threads(1)
    sample = [t for t in texts if 100 <= len(t) <= 600][:100]
    times = []
    with torch.inference_mode():
        for text in sample:
            t0 = time.perf_counter()
            enc = tokenizer([text], truncation=True, max_length=256, return_tensors="pt")
            model(**enc)
            times.append((time.perf_counter() - t0) * 1000)
    print(f"one encoder pass, one thread, torch float32, {len(sample)} prompts of 100-600 chars: "
          f"p50 {np.percentile(times, 50):.1f} ms  p99 {np.percentile(times, 99):.1f} ms")


if __name__ == "__main__":
    main()
