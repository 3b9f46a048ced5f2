"""Every labelled set the classifier is trained and measured on, with the one fixed held-out split.

A prompt's split is decided by a hash of its text, so it never changes between runs or machines and no training
step can see a held-out prompt:
- handwritten task-type prompts (data/prompts/*.tsv): 25% held out;
- Arena-Hard prompts (coding, math, creative_writing): 30% held out;
- RouteLLM's GSM8K and MMLU outcomes: 30% held out (contaminated prompts dropped first, as RouteLLM does);
- RouteLLM's MT-Bench judgements: all held out (never trained on);
- templated prompts (templates.py, decorrelated.py) and the handwritten length-decorrelated prompts
  (data/decorrelated/): training only;
- issue 25's held-out prompts (data/heldout/, `heldout_prompts`): never trained on; any training prompt that
  matches one of them (case and spacing aside) is dropped from training.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("SWITCHBOARD_SHARED", ROOT.parent / "shared")) / "data" / "routing"
ROUTELLM = SHARED / "routellm" / "routellm" / "evals"
ARENA = SHARED / "arena-hard" / "question-v2.0.jsonl"

LABELS = ("creative_writing", "technical_explanation", "summarization", "classification", "coding", "math")
NONE = "none"
ALL_CLASSES = (*LABELS, NONE)

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"

MMLU_MATH = {"abstract_algebra", "college_mathematics", "elementary_mathematics", "high_school_mathematics",
             "high_school_statistics"}


def held_out(text: str, share: float, salt: str = "") -> bool:
    digest = hashlib.sha256((salt + text).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    task: str  # one of ALL_CLASSES
    complexity: str  # "simple" | "complex" | "" (unknown)
    source: str
    kind: str = ""  # held-out prompts: "sh" short but hard, "le" long but easy, "" otherwise


@dataclass(frozen=True, slots=True)
class Outcome:
    """One RouteLLM prompt: whether the weak and the strong model got it right (or their MT-Bench scores)."""

    text: str
    weak: float
    strong: float
    source: str
    group: str = ""  # MMLU subject, MT-Bench category
    qid: int = 0


def _lines(path: Path) -> list[str]:
    """Non-empty lines, split on "\\n" only (prompts contain U+2028 and friends, which splitlines() splits on)."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def handwritten() -> list[Prompt]:
    out = []
    for path in sorted((HERE / "data" / "prompts").glob("*.tsv")):
        for line in _lines(path):
            mark, text = line.split("\t", 1)
            text = text.replace("\\n", "\n")
            out.append(Prompt(text, path.stem, {"s": "simple", "c": "complex"}[mark], "handwritten"))
    return out


def decorrelated_handwritten() -> list[Prompt]:
    """Handwritten training prompts whose length and difficulty point opposite ways (training only)."""
    out = []
    for path in sorted((HERE / "data" / "decorrelated").glob("*.tsv")):
        for line in _lines(path):
            mark, text = line.split("\t", 1)
            out.append(Prompt(text.replace("\\n", "\n"), path.stem, {"s": "simple", "c": "complex"}[mark],
                              "handwritten-decorrelated"))
    return out


def heldout_prompts() -> list[Prompt]:
    """Issue 25's held-out set: written apart from the training data, read by bench/router_eval.py only."""
    out = []
    for path in sorted((HERE / "data" / "heldout").glob("*.tsv")):
        for line in _lines(path):
            mark, kind, text = line.split("\t", 2)
            out.append(Prompt(text.replace("\\n", "\n"), path.stem, {"s": "simple", "c": "complex"}[mark],
                              "heldout", "" if kind == "-" else kind))
    return out


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def arena() -> list[Prompt]:
    rows = [json.loads(line) for line in _lines(ARENA)]
    return [Prompt(r["prompt"], r["subcategory"], "", "arena-hard") for r in rows
            if r["subcategory"] in ("coding", "math", "creative_writing")]


def _contaminated(bench: str) -> set[str]:
    path = ROUTELLM / bench / "contaminated_prompts.jsonl"
    return {json.loads(line)["eval_prompt"] for line in _lines(path)}


def _truth(value: str) -> float:
    return 1.0 if value.strip() == "True" else 0.0


def gsm8k() -> list[Outcome]:
    drop = _contaminated("gsm8k")
    with open(ROUTELLM / "gsm8k" / "gsm8k_responses.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [Outcome(r["prompt"], _truth(r[WEAK]), _truth(r[STRONG]), "gsm8k") for r in rows if r["prompt"] not in drop]


def mmlu() -> list[Outcome]:
    drop = _contaminated("mmlu")
    out = []
    for path in sorted((ROUTELLM / "mmlu" / "responses").glob("mmlu_*.csv")):
        subject = path.stem.removeprefix("mmlu_")
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["prompt"] not in drop:
                    out.append(Outcome(r["prompt"], _truth(r[WEAK]), _truth(r[STRONG]), "mmlu", subject))
    return out


def mt_bench() -> list[Outcome]:
    """The first turn of each decontaminated question, with each model's mean score over both turns."""
    drop = _contaminated("mt_bench")
    questions = [json.loads(line) for line in _lines(ROUTELLM / "mt_bench" / "question.jsonl")]
    scores: dict[tuple[int, str], list[float]] = {}
    for line in _lines(ROUTELLM / "mt_bench" / "judgements.jsonl"):
        j = json.loads(line)
        scores.setdefault((j["question_id"], j["model"]), []).append(float(j["score"]))
    out = []
    for q in questions:
        if q["turns"][0] in drop or q["turns"][1] in drop:
            continue
        weak, strong = scores[(q["question_id"], WEAK)], scores[(q["question_id"], STRONG)]
        out.append(Outcome(q["turns"][0], sum(weak) / len(weak), sum(strong) / len(strong), "mt-bench",
                           q["category"], q["question_id"]))
    return out


def split(items: list, share: float, salt: str = "") -> tuple[list, list]:
    train = [x for x in items if not held_out(x.text, share, salt)]
    test = [x for x in items if held_out(x.text, share, salt)]
    return train, test


def task_type_sets(seed: int = 0) -> tuple[list[Prompt], list[Prompt]]:
    """(train, held-out) prompts for the task-type head."""
    import decorrelated
    from templates import generate

    rng = random.Random(seed)
    hand_train, hand_test = split(handwritten(), 0.25, "hand")
    arena_train, arena_test = split(arena(), 0.30, "arena")
    train = hand_train + arena_train + decorrelated_handwritten()
    train += [Prompt(text, task, "", "template") for task, _, text in generate(seed)]
    train += [Prompt(text, task, complexity, "template-decorrelated")
              for task, complexity, text in decorrelated.generate(seed)]
    gsm_train, _ = split(gsm8k(), 0.30, "routellm")
    train += [Prompt(o.text, "math", "", "gsm8k") for o in rng.sample(gsm_train, 250)]
    mmlu_train, _ = split(mmlu(), 0.30, "routellm")
    math_q = [o for o in mmlu_train if o.group in MMLU_MATH]
    other_q = [o for o in mmlu_train if o.group not in MMLU_MATH and "computer" not in o.group]
    train += [Prompt(o.text, "math", "", "mmlu") for o in rng.sample(math_q, 120)]
    train += [Prompt(o.text, NONE, "", "mmlu") for o in rng.sample(other_q, 200)]
    never = {_key(p.text) for p in heldout_prompts()}
    return [p for p in train if _key(p.text) not in never], hand_test + arena_test


def routellm_sets() -> tuple[list[Outcome], list[Outcome]]:
    """(train, held-out) RouteLLM outcomes: GSM8K and MMLU split 70/30; MT-Bench entirely held out."""
    g_train, g_test = split(gsm8k(), 0.30, "routellm")
    m_train, m_test = split(mmlu(), 0.30, "routellm")
    return g_train + m_train, g_test + m_test + mt_bench()
