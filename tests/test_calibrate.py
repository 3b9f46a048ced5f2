"""RouteLLM's calibration: the threshold that sends a chosen share of scored requests to the strong chains."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from switchboard.routing.calibrate import calibrate_lines, quantile, share_at, threshold_for_share


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9])
def test_the_threshold_sends_the_asked_share_strong(share: float) -> None:
    rng = random.Random(7)
    scores = [rng.betavariate(2, 5) for _ in range(2_000)]
    threshold = threshold_for_share(scores, share)
    assert threshold == pytest.approx(float(np.quantile(scores, 1 - share)), abs=1e-12)
    assert share_at(scores, threshold) == pytest.approx(share, abs=1 / len(scores))


def test_quantile_interpolates_as_numpy_does() -> None:
    values = sorted([0.9, 0.1, 0.4, 0.4, 0.7])
    for q in (0.0, 0.1, 0.33, 0.5, 0.8, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)))


def test_the_ends_of_the_dial() -> None:
    scores = [0.2, 0.5, 0.5, 0.8]
    assert share_at(scores, threshold_for_share(scores, 0.0)) == 0.0  # nothing strong, even the top score
    assert share_at(scores, threshold_for_share(scores, 1.0)) == 1.0
    assert threshold_for_share([0.42], 0.3) == 0.42  # one score: it is its own quantile


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan"), "0.3", True, None])
def test_a_bad_share_is_refused_by_name(share) -> None:
    with pytest.raises(ValueError, match="strong_share"):
        threshold_for_share([0.1, 0.2], share)


def test_bad_scores_are_refused_with_their_position() -> None:
    with pytest.raises(ValueError, match=r"scores\[1\]"):
        threshold_for_share([0.1, float("nan"), 0.3], 0.5)
    with pytest.raises(ValueError, match="no scores"):
        threshold_for_share([], 0.5)


def record(score: float | None, **extra) -> str:
    return json.dumps({"record": "request", "event": "request", "request_id": "r", "score": score, **extra})


def test_calibrate_reads_scored_request_records_only() -> None:
    scores = [i / 100 for i in range(100)]  # 0.00 .. 0.99
    lines = [record(s) for s in scores]
    lines += [
        record(None),  # a request the classifier never saw (a task type given)
        json.dumps({"event": "gateway started", "level": "info"}),  # another log line
        "not json at all",
        json.dumps({"record": "feedback", "score": 0.99}),  # a score that is no complexity score
        json.dumps({"record": "request", "score": True}),  # not a number
        json.dumps([1, 2, 3]),
    ]
    result = calibrate_lines(lines, 0.3)
    assert (result.lines, result.requests, result.scored, result.skipped) == (106, 102, 100, 4)
    assert result.threshold == pytest.approx(float(np.quantile(scores, 0.7)))
    assert result.strong == 30 and result.achieved_share == pytest.approx(0.3)


def test_calibrate_reads_bytes_and_refuses_a_log_without_scores() -> None:
    assert calibrate_lines([record(0.2).encode(), record(0.9).encode()], 0.5).strong == 1
    with pytest.raises(ValueError, match="no classified requests"):
        calibrate_lines([record(None), "x"], 0.3)
    with pytest.raises(ValueError, match="strong_share"):
        calibrate_lines([record(0.5)], 2)
