"""Record what the reference tokenizer (`tokenizers`' BERT WordPiece) makes of a set of texts, on the shipped
embedder's vocabulary: tests/data/wordpiece_reference.json, which tests/test_embeddings.py holds the service's
own WordPiece (service/switchboard/embeddings.py) to, with no `tokenizers` in the test environment.

Run it again whenever the embedder is rebuilt (`make classifier`): the test refuses a reference recorded on
another vocabulary.

    .venv-train/bin/python training/wordpiece_reference.py     # tokenizers is in training/requirements.txt
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import tokenizers

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "service/switchboard/models/minilm-l6-static-256.npz"
PAIRS = ROOT / "training/data/semantic_pairs.jsonl"
OUT = ROOT / "tests/data/wordpiece_reference.json"

# Hand-picked edge cases: accents, CJK, punctuation, control and zero-width characters, long words.
EDGES = [
    "How do I reverse a list in Python? It's `xs[::-1]`, right?",
    "Héllo wörld! naïve café — 5°C, 3.14, x_y, \"quoted\" 東京タワー ×2 a´b \u200b zero\u00a0nbsp "
    "\x07 bell\ttab",
    "Résume ce texte : La réunion est annulée. ¿Qué tal? Grüße aus Köln!",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment <html> &amp; @user #tag $5 100% a+b=c",
    "supercalifragilisticexpialidocious " + "z" * 120 + " antidisestablishmentarianism",
    "Héllo, WORLD! Tokenization's fun.",
    "",
    "   \n\t  ",
    "ÀÉÎÕÜ ǅ ﬁ ① ＡＢＣ ｶﾀｶﾅ 한국어 Ελληνικά русский العربية עברית हिन्दी ไทย",
    "emoji 🙂👍🏽 and combining e\u0301 a\u0308 and a lone \ufeff BOM",
]


def vocab_sha256(vocab: list[str]) -> str:
    return hashlib.sha256("\n".join(vocab).encode()).hexdigest()


def main() -> None:
    with np.load(MODEL) as data:
        vocab = str(data["vocab"]).split("\n")
    reference = tokenizers.Tokenizer(tokenizers.models.WordPiece(
        vocab={token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    reference.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    reference.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = EDGES + [text for pair in pairs[::5] for text in (pair["a"], pair["b"])]
    cases = [{"text": text, "ids": reference.encode(text, add_special_tokens=False).ids} for text in texts]
    head = json.dumps({"model": MODEL.name, "vocab_sha256": vocab_sha256(vocab),
                       "tokenizers": tokenizers.__version__, "unk_id": vocab.index("[UNK]")})
    # One case a line: readable diffs.
    lines = ",\n".join(json.dumps(case, ensure_ascii=False) for case in cases)
    OUT.write_text(f'{head[:-1]}, "cases": [\n{lines}\n]}}\n', encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(cases)} texts")


if __name__ == "__main__":
    main()
