"""Distil the static embedder from all-MiniLM-L6-v2 and write it as one small numpy file.

model2vec runs every vocabulary token through the teacher once, reduces the vectors with PCA and weights them
(SIF), so that a sentence embedding is just the mean of its tokens' rows. The result is stored as int8 rows with
one float16 scale per row (a quarter of float32, half of float16) next to the WordPiece vocabulary, which is all
`switchboard.embeddings` needs at run time: no torch, no tokenizers, no model hub.

    python training/build_embedder.py TEACHER_DIR OUT.npz [--dims 256]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import zipfile
from pathlib import Path

import numpy as np


def distil(teacher: Path, dims: int) -> tuple[list[str], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from model2vec.distill import distill

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one thread: the same sums in the same order on every machine
    random.seed(0)
    np.random.seed(0)
    model = distill(str(teacher), pca_dims=dims, device="cpu", quantize_to="float32")
    vocab_map = json.loads(model.tokenizer.to_str())["model"]["vocab"]
    vocab = [token for token, _ in sorted(vocab_map.items(), key=lambda item: item[1])]
    vectors = np.asarray(model.embedding, dtype=np.float32)
    assert len(vocab) == len(vectors), (len(vocab), vectors.shape)
    return vocab, vectors


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: row ≈ q * scale, error ≤ scale / 2 per component."""
    peak = np.abs(vectors).max(axis=1, keepdims=True)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(vectors / scale), -127, 127).astype(np.int8)
    return q, scale[:, 0].astype(np.float16)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez, but with fixed zip timestamps so that the same arrays always give the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as fh:
                np.lib.format.write_array(fh, np.asarray(value), allow_pickle=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", type=Path, help="sentence-transformers directory of all-MiniLM-L6-v2")
    parser.add_argument("out", type=Path)
    parser.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()

    vocab, vectors = distil(args.teacher, args.dims)
    q, scale = quantise(vectors)
    write_npz(
        args.out,
        vocab=np.array("\n".join(vocab)),
        vectors=q,
        scales=scale,
        name=np.array(f"minilm-l6-static-{args.dims}"),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {len(vocab)} tokens x {args.dims}")


if __name__ == "__main__":
    main()
