"""`switchboard incident` on logs whose truth is known: records written the way the gateway writes them (its
checksums), across minute buckets, read from plain, gzip and stdin; the timeline's start and end, the
failovers and their extra cost at the config's prices, deadline misses, tenants, drains and reloads."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.config import load_config
from switchboard.operations import records as operation_records
from switchboard.operations.incident import analyse
from switchboard.operations.logfiles import records
from switchboard.telemetry.record import checksum

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
SONNET = "anthropic:claude-sonnet-4-6"


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def request(at: datetime, path: list[tuple[str, str]], *, status: int = 200, tenant: str = "acme",
            error: str | None = None, cost: float | None = None, host: str | None = None) -> dict[str, Any]:
    """A request record as `telemetry.record` writes it: answered by the last `ok` step of `path`."""
    answered = next((target for target, outcome in reversed(path) if outcome == "ok"), None)
    provider, model = answered.split(":", 1) if answered else (None, None)
    inputs, outputs = (1000, 100) if answered else (0, 0)
    cost = cost if cost is not None else (0.0045 if answered == SONNET else 0.00225 if answered else 0.0)
    timestamp = stamp(at)
    steps = []
    for target, outcome in path:
        step: dict[str, Any] = {"target": target, "outcome": outcome, "status": 200 if outcome == "ok" else None,
                                "wait_ms": 0.0, "latency_ms": 100.0 if outcome not in ("drained", "circuit_open") else 0}
        if outcome == "connect_error" and host:
            step["host"] = host
        steps.append(step)
    return {"record": "request", "request_id": f"r{at.timestamp()}", "status": status, "tenant": tenant,
            "provider": provider, "model": model, "latency_ms": sum(s["latency_ms"] for s in steps),
            "input_tokens": inputs, "output_tokens": outputs, "cached_tokens": 0, "cache_write_tokens": 0,
            "cost_usd": cost, "error": error, "path": steps, "route": "creative_writing", "timestamp": timestamp,
            "sum": checksum(f"r{at.timestamp()}", timestamp, cost, inputs, outputs), "event": "request"}


def operation(at: datetime, action: str, target: str | None, **fields: Any) -> dict[str, Any]:
    timestamp = stamp(at)
    return {"record": "operation", "action": action, "target": target, **fields, "replica": "gw-1:7",
            "timestamp": timestamp, "sum": operation_records.checksum(action, target, timestamp, fields.get("reason")),
            "event": "operation"}


def story() -> list[dict[str, Any]]:
    """OpenAI refuses connections from 10:01:30 to about 10:04:40; drained at 10:03:05, restored at 10:04:45."""
    lines = [request(T0 + timedelta(seconds=s), [("openai:gpt-5.4", "ok")]) for s in range(10, 90, 10)]
    for s in range(90, 185, 5):  # 10:01:30 .. 10:03:00: refused, then the breaker skips it
        outcome = "connect_error" if s < 100 or s % 30 == 0 else "circuit_open"
        lines.append(request(T0 + timedelta(seconds=s), [("openai:gpt-5.4", outcome), (SONNET, "ok")],
                             tenant="acme" if s % 2 else "globex", host="api.openai.com"))
    lines.append(request(T0 + timedelta(seconds=150), [("openai:gpt-5.4", "connect_error"), (SONNET, "timeout"),
                                                       ("local:smollm2-135m-instruct", "deadline_exceeded")],
                         status=504, error="deadline_exceeded", tenant="initech", host="api.openai.com"))
    lines.append(operation(T0 + timedelta(seconds=185), "drain", "openai", by="alice", reason="INC-9 refused",
                           until=None))
    lines += [request(T0 + timedelta(seconds=s), [("openai:gpt-5.4", "drained"), (SONNET, "ok")])
              for s in range(190, 285, 10)]
    lines.append(operation(T0 + timedelta(seconds=270), "reload", None, result="ok", source="signal",
                           changed=["routes"], reason=None))
    lines.append(operation(T0 + timedelta(seconds=285), "restore", "openai", scopes=["openai"], by="alice",
                           reason="recovered"))
    lines += [request(T0 + timedelta(seconds=s), [("openai:gpt-5.4", "ok")]) for s in range(290, 330, 10)]
    return lines


def prices(provider: str, model: str) -> Any:
    config = load_config(env={})
    return config.price(provider, model) if model in config.providers.get(provider, {}).models else None  # type: ignore[union-attr]


def jsonl(lines: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(line).decode() + "\n" for line in lines)


def test_the_timeline_starts_and_ends_with_the_truth_and_prices_the_failovers() -> None:
    text = jsonl(story()) + "not json\n" + '{"event": "job_started"}\n'
    incident = analyse(records(text.splitlines()), prices)
    assert incident.began is not None and incident.ended is not None
    # The first refused attempt: its record ends at 10:01:30 after two attempts of 100 ms, so it began 0.2 s
    # before. The end: the restore (no traffic reached OpenAI while it was drained).
    assert incident.began == T0 + timedelta(seconds=90, milliseconds=-200)
    assert incident.ended == T0 + timedelta(seconds=285)
    openai = incident.targets["openai:gpt-5.4"]
    assert openai.hosts == {"api.openai.com": sum(1 for s in range(90, 185, 5) if s < 100 or s % 30 == 0) + 1}
    assert openai.first_breaker_open == T0 + timedelta(seconds=100, milliseconds=-100)  # a skip, then 100 ms
    assert openai.held[0][0] == T0 + timedelta(seconds=185) and openai.held[0][1] == T0 + timedelta(seconds=285)
    assert openai.recovered is not None and openai.recovered > T0 + timedelta(seconds=285)
    assert sorted(minute.strftime("%H:%M") for minute in openai.by_minute) == [
        "10:00", "10:01", "10:02", "10:03", "10:04", "10:05"]
    failovers = incident.failovers[("openai:gpt-5.4", SONNET)]
    assert failovers == 19 + 10  # refused or skipped, then drained
    # each failed-over request: 1000 in / 100 out on Sonnet ($3 / $15) instead of GPT-5.4 ($1.25 / $10)
    assert incident.extra_cost[("openai:gpt-5.4", SONNET)] == pytest.approx(29 * (0.0045 - 0.00225))
    assert incident.deadline_misses == 1 and incident.failed == {"504 deadline_exceeded": 1}
    assert incident.tenants_failed == {"initech": 1} and set(incident.tenants) == {"acme", "globex", "initech"}
    events = [words for _, _, words in incident.timeline()]
    assert events[0].startswith("errors begin (connect_error") and "api.openai.com" in events[0]
    assert "drained by alice: INC-9 refused" in events and "restored by alice: recovered" in events
    assert any(word.startswith("config reloaded (signal) on gw-1:7: changed routes") for word in events)


def test_a_line_with_a_wrong_checksum_is_not_a_record() -> None:
    forged = request(T0, [("openai:gpt-5.4", "connect_error"), (SONNET, "ok")])
    forged["cost_usd"] = 99.0
    fake_op = operation(T0, "drain", "openai", reason="x")
    fake_op["reason"] = "changed"
    assert list(records([jsonl([forged, fake_op])])) == []


def test_the_cli_reads_plain_gzip_and_stdin_with_a_window_and_writes_a_post_mortem(tmp_path: Path) -> None:
    lines = story()
    half = len(lines) // 2
    plain, zipped = tmp_path / "gw-1.log", tmp_path / "gw-2.log.1"  # a rotated log: gzip without its suffix
    plain.write_text(jsonl(lines[:half]))
    zipped.write_bytes(gzip.compress(jsonl(lines[half:]).encode()))
    runner = CliRunner()
    whole = runner.invoke(app, ["incident", str(plain), str(zipped), "--json"])
    assert whole.exit_code == 0, whole.output
    data = orjson.loads(whole.stdout)
    assert (data["began_minute"], data["ended_minute"]) == ("10:01", "10:04")
    assert data["failovers"][0]["to"] == SONNET and data["extra_cost_usd"] == pytest.approx(29 * 0.00225)
    assert [op["action"] for op in data["operations"]] == ["drain", "reload", "restore"]

    piped = runner.invoke(app, ["incident", "-", "--since", "2026-03-01T10:04:50Z"], input=jsonl(lines))
    assert piped.exit_code == 0 and piped.stdout.startswith("No errors in 4 records")

    draft = runner.invoke(app, ["incident", str(plain), str(zipped), "--markdown"])
    assert draft.exit_code == 0
    for section in ("# Post-mortem: openai, anthropic 10:01–10:04 UTC", "## Summary", "## Impact", "## Timeline (UTC)",
                    "## Detection", "## Response", "## Root cause", "## Action items"):
        assert section in draft.stdout
    assert "First mitigation: drained by alice" in draft.stdout and "api.openai.com" in draft.stdout

    missing = runner.invoke(app, ["incident", str(tmp_path / "nope.log")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    both = runner.invoke(app, ["incident", str(plain), "--json", "--markdown"])
    assert both.exit_code == 2
