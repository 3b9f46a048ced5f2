"""Features for many prompts at once, cached on disk (training/.cache/) between runs of the training script.

The cache key covers the texts, the embedder and the feature code itself, so a change to either recomputes.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
from pathlib import Path

import runtime  # noqa: F401  (registers the switchboard namespace)

from switchboard.routing import classifier
from switchboard.routing.classifier import Features, featurise

CACHE = Path(__file__).resolve().parent / ".cache"


def featurise_all(embedder, texts: list[str]) -> list[Features]:
    code = inspect.getsource(classifier)
    digest = hashlib.sha256(("\x00".join(texts) + f"|{embedder.name}|{code}").encode()).hexdigest()[:16]
    path = CACHE / f"features-{digest}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    out = [featurise(embedder, t) for t in texts]
    CACHE.mkdir(exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out
