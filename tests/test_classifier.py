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


def test_complexity_confidence_is_the_distance_from_the_threshold() -> None:
    from switchboard.routing.classifier import complexity_confidence

    assert complexity_confidence(0.5, 0.5) == 0.5
    for p in (0.0, 0.1, 0.37, 0.5, 0.8, 1.0):
        assert complexity_confidence(p, 0.5) == pytest.approx(max(p, 1 - p))  # the label's calibrated probability
    for threshold in (0.2, 0.8):  # a threshold moved by the strong-share dial
        assert complexity_confidence(threshold, threshold) == 0.5
        values = [complexity_confidence(p / 100, threshold) for p in range(101)]
        assert min(values) == 0.5 and max(values) == 1.0
        assert all(0.5 <= v <= 1.0 for v in values)


def test_classify_reports_the_complexity_confidence_at_the_threshold_it_was_given(classifier: Classifier) -> None:
    text = "Derive the closed form of the sum of the first n squares and prove it by induction."
    at_default = classifier.classify(text)
    moved = classifier.classify(text, complex_threshold=at_default.score)
    assert moved.complexity == "complex" and moved.complexity_confidence == pytest.approx(0.5)
    assert at_default.complexity_confidence > 0.5


def test_the_ask_is_read_apart_from_the_pasted_text() -> None:
    from switchboard.routing.classifier import ask_text

    pasted = "\n".join(f"Line {i}: the quarterly figures were in line with expectations." for i in range(30))
    ask = ask_text(f"Can you just count the lines below?\n{pasted}\nThanks!")
    assert ask == "Can you just count the lines below?\nThanks!"
    assert ask_text("Prove that e is irrational.") == "Prove that e is irrational."


@pytest.mark.parametrize("text", [
    "Prove that there are infinitely many primes congruent to 1 mod 4.",
    "Why exactly is comparison sorting Omega(n log n)? Prove it.",
    "Write a villanelle about a drowned bell tower.",
])
def test_short_hard_asks_are_complex(classifier: Classifier, text: str) -> None:
    assert classifier.classify(text).complexity == "complex"


def test_a_long_paste_with_a_trivial_ask_is_simple(classifier: Classifier) -> None:
    notice = ("The community centre's autumn programme starts on Monday. Yoga is on Tuesdays at 6pm, the choir "
              "meets on Wednesdays, the toddler group on Thursday mornings, and the repair café on the first "
              "Saturday of each month. The car park will be closed on the 14th for resurfacing. Tea and coffee "
              "are free for volunteers, and the lost property box is by the main door. ")
    result = classifier.classify(f"Which day is the choir on? Just the day please.\n\n{notice * 2}")
    assert result.complexity == "simple", result
