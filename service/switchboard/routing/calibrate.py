"""The complexity threshold that sends a chosen share of traffic to the strong chains (RouteLLM's calibration).

A fixed threshold on the complexity score sends whatever share of requests happens to score above it; an
operator thinks in shares instead ("30% of classified traffic may go to the strong model"). Given the scores
of recent requests, the threshold for a strong share s is their (1 - s) quantile: a request is complex when
its score is at or above it. The live dial (`routing.classifier.strong_share`) and
`switchboard router calibrate LOG... --strong-share 0.3` both use `threshold_for_share`; `calibrate_lines`
reads request log lines for the command. Pure functions: no I/O beyond the lines they are given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

RECORD = "request"  # the request log line's marker (telemetry/record.py)


def _check_share(strong_share: float) -> float:
    if isinstance(strong_share, bool) or not isinstance(strong_share, (int, float)) or not (
            0.0 <= strong_share <= 1.0):
        raise ValueError(f"strong_share must be a number from 0 to 1, got {strong_share!r}")
    return float(strong_share)


def quantile(sorted_scores: Sequence[float], q: float) -> float:
    """The q quantile of ascending scores, interpolated linearly between neighbours (numpy's default)."""
    if not sorted_scores:
        raise ValueError("no scores to take a quantile of")
    at = q * (len(sorted_scores) - 1)
    low = math.floor(at)
    high = min(low + 1, len(sorted_scores) - 1)
    return sorted_scores[low] + (sorted_scores[high] - sorted_scores[low]) * (at - low)


def threshold_for_share(scores: Iterable[float], strong_share: float) -> float:
    """The threshold t such that about `strong_share` of these scores are >= t: their (1 - s) quantile.

    Share 0 gives a threshold just above the highest score (nothing is complex); share 1 the lowest score
    (everything is). Scores that are not finite numbers are refused, with the position of the first one.
    """
    share = _check_share(strong_share)
    values = []
    for i, score in enumerate(scores):
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"scores[{i}] must be a finite number, got {score!r}")
        values.append(float(score))
    if not values:
        raise ValueError("no scores: the threshold for a share needs at least one scored request")
    values.sort()
    if share == 0.0:
        return math.nextafter(values[-1], math.inf)
    return quantile(values, 1.0 - share)


def share_at(scores: Sequence[float], threshold: float) -> float:
    """The share of these scores at or above the threshold (what the threshold sends to the strong chains)."""
    if not scores:
        return 0.0
    return sum(score >= threshold for score in scores) / len(scores)


@dataclass(frozen=True, slots=True)
class Calibration:
    """What a set of request log lines implies for a strong share."""

    strong_share: float  # asked for
    threshold: float  # complex when score >= threshold
    scored: int  # request records with a complexity score (classified requests)
    requests: int  # request records read, scored or not
    strong: int  # scored requests at or above the threshold
    lines: int  # lines read
    skipped: int  # lines that were not request records (other log lines, text, broken JSON)

    @property
    def achieved_share(self) -> float:
        return self.strong / self.scored if self.scored else 0.0


def calibrate_lines(lines: Iterable[str | bytes], strong_share: float) -> Calibration:
    """Read request log lines (JSON objects with "record": "request"; a classified one has a numeric
    "score") and return the threshold that sends `strong_share` of the scored requests strong."""
    share = _check_share(strong_share)
    scores: list[float] = []
    read = requests = skipped = 0
    for line in lines:
        read += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            skipped += 1
            continue
        if not isinstance(record, dict) or record.get("record") != RECORD:
            skipped += 1
            continue
        requests += 1
        score = record.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
            scores.append(float(score))
    if not scores:
        raise ValueError(f"no classified requests (request records with a score) among {read} lines")
    threshold = threshold_for_share(scores, share)
    return Calibration(share, threshold, len(scores), requests, sum(s >= threshold for s in scores), read, skipped)
