"""The shipped classifier loads and answers sensibly; its figures are measured in bench/router_eval.py."""

from __future__ import annotations

import pytest

from switchboard.routing.classifier import Classification, Classifier


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


def test_loads_with_the_trained_labels(classifier: Classifier) -> None:
    assert set(classifier.labels) == {
        "creative_writing", "technical_explanation", "summarization", "classification", "coding", "math",
    }
    assert "none" not in classifier.labels


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Write a haiku about the first snow of winter.", "creative_writing"),
        (("Summarise this article: The city council voted on Tuesday to expand the bike lane network by 40 km "
         "over three years. Supporters expect less traffic; shop owners fear losing parking."), "summarization"),
        (("My Python function crashes with IndexError: list index out of range when the list is empty:\n"
         "def first(xs):\n    return xs[0]\nHow do I fix it?"), "coding"),
        ("Solve for x: 3x + 7 = 22", "math"),
        ("Classify the sentiment of this review as positive or negative: 'Terrible battery, great screen.'",
         "classification"),
        ("How does public-key cryptography work?", "technical_explanation"),
        ("hi, how are you today?", None),
    ],
)
def test_obvious_prompts(classifier: Classifier, text: str, label: str | None) -> None:
    result = classifier.classify(text)
    assert isinstance(result, Classification)
    assert result.task_type == label, result
    assert 0.0 < result.confidence <= 1.0


def test_a_hard_proof_scores_more_complex_than_hi(classifier: Classifier) -> None:
    hard = classifier.classify(
        "Prove that every finite group of order p^2, with p prime, is abelian. Then classify all groups of order "
        "p^3 up to isomorphism, proving that your list is complete and that no two of them are isomorphic."
    )
    easy = classifier.classify("hi")
    assert hard.score > easy.score
    assert easy.complexity == "simple"
    assert 0.0 <= easy.score <= hard.score <= 1.0


def test_threshold_decides_the_complexity_label(classifier: Classifier) -> None:
    text = "Write a Python function that adds two numbers."
    score = classifier.classify(text).score
    assert classifier.classify(text, complex_threshold=0.0).complexity == "complex"
    assert classifier.classify(text, complex_threshold=min(score + 1e-6, 1.0)).complexity == "simple"


def test_long_and_empty_inputs(classifier: Classifier) -> None:
    assert classifier.classify("").task_type in (*classifier.labels, None)
    long = "Summarize the following report.\n" + "The committee met and discussed the budget. " * 3000
    result = classifier.classify(long)
    assert result.task_type == "summarization"
