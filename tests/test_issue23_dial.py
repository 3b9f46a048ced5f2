"""Issue 23: the cost–quality dial (`routing.classifier.strong_share`) holds the share of classified traffic sent
to the strong chains, on two replicas sharing Redis; `switchboard router calibrate` gives the fixed threshold a
log implies."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import orjson
import pytest
import redis as redis_sync

from switchboard.operations.logfiles import is_record
from tests.conftest import make_config, request_logs

HELDOUT = Path(__file__).resolve().parents[1] / "training" / "data" / "heldout"
DIAL = {"routing": {"classifier": {"enabled": True, "strong_share": 0.25}},
        "callers": {"anonymous_tier": "paid"}}


def prompts(count: int) -> list[str]:
    """Varied prompts, simple and complex, in a fixed order (a seeded shuffle of the held-out set)."""
    texts = [line.rstrip("\n").split("\t", 2)[2] for path in sorted(HELDOUT.glob("*.tsv"))
             for line in path.read_text().splitlines() if line.count("\t") >= 2]
    random.Random(23).shuffle(texts)
    return texts[:count]


@pytest.mark.slow
def test_a_strong_share_of_a_quarter_holds_on_two_replicas_sharing_redis(serve, env, fakes, redis_url,
                                                                          capsys, tmp_path) -> None:
    redis_sync.Redis.from_url(redis_url).flushdb()
    config = make_config(**DIAL)
    first, second = serve(config, redis=redis_url), serve(config, redis=redis_url)
    complex_ = []
    with httpx.Client(timeout=30) as client:
        for n, text in enumerate(prompts(200)):
            answer = client.post(f"{(first, second)[n % 2]}/complete", json={"text": text, "max_tokens": 16})
            assert answer.status_code == 200, answer.text
            decision = answer.json()["route"]["decision"]
            assert decision["threshold"] is not None
            complex_.append(decision["complexity"] == "complex")
            if decision["complexity"] == "complex":  # the paid tier's complex chain: the strong model
                assert answer.json()["route"]["reason"].startswith("tier paid, complexity complex")
        decided = client.post(f"{first}/decide", json={"text": "Prove that there are infinitely many primes."})
        assert decided.json()["decision"]["threshold"] == pytest.approx(
            client.post(f"{second}/decide", json={"text": "hello"}).json()["decision"]["threshold"], abs=0.05)
        metrics = client.get(f"{first}/metrics").text
    share = sum(complex_[-100:]) / 100
    with capsys.disabled():
        print(f"\nstrong share over the last 100 requests: {share:.2f} (asked: 0.25)")
    assert 0.17 <= share <= 0.33, share  # 0.25 ± 0.08 over the last hundred
    assert "switchboard_complexity_threshold" in metrics

    # The same log, calibrated offline: the threshold it implies sends the asked share of those requests strong.
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    records = [orjson.loads(line) for line in lines]
    assert sum(1 for r in records if is_record(r) and r["threshold"] is not None) == 200
    log = tmp_path / "requests.log"
    log.write_text("\n".join(lines) + "\n")
    from tests.conftest import cli

    calibrated = cli("router", "calibrate", str(log), "--strong-share", "0.3", "--json")
    assert calibrated.exit_code == 0, calibrated.output
    figures = orjson.loads(calibrated.output)
    assert figures["scored"] == 200 and abs(figures["achieved_share"] - 0.3) <= 0.01
    scores = sorted(r["score"] for r in records if is_record(r) and r.get("score") is not None)
    assert sum(score >= figures["threshold"] for score in scores) == figures["strong"]


def test_without_the_dial_the_configured_threshold_holds(serve, env, fakes, capsys) -> None:
    base = serve(make_config(routing={"classifier": {"enabled": True, "complex_threshold": 0.7}}))
    decision = httpx.post(f"{base}/decide", json={"text": "Prove that there are infinitely many primes."}).json()
    assert decision["decision"]["threshold"] == 0.7
    assert request_logs(capsys.readouterr().out) == []  # a decision is not a request record
