"""Every request traced, measured and priced: metrics, spans, cost, scrubbing, dashboard, cost report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from switchboard.telemetry import tracing
from switchboard.telemetry.record import RECORD, checksum
from tests.conftest import KEYS, cli, make_config, outcomes, request_logs
from tests.fakes import Reply

ROOT = Path(__file__).resolve().parent.parent


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.configure(exporter, env={})
    yield exporter
    tracing.configure(env={})  # off again


def test_metrics_show_a_retry_a_failover_the_tokens_and_the_cost(serve, fakes) -> None:
    fakes.openai.push(Reply(status=500), Reply(status=500))
    fakes.anthropic.push(Reply(text="ok", input_tokens=100, output_tokens=20, cached_tokens=40))
    labels = {
        "openai_errors": dict(provider="openai", model="gpt-5.4", outcome="server_error"),
        "anthropic_ok": dict(provider="anthropic", model="claude-sonnet-4-6", outcome="ok"),
    }
    before = {
        "openai_errors": sample("switchboard_attempts_total", **labels["openai_errors"]),
        "anthropic_ok": sample("switchboard_attempts_total", **labels["anthropic_ok"]),
        "retries": sample("switchboard_retries_total", provider="openai", model="gpt-5.4", reason="server_error"),
        "failovers": sample("switchboard_failovers_total", from_provider="openai", reason="server_error"),
        "requests": sample("switchboard_requests_total", route="creative_writing", status="200"),
        "input": sample("switchboard_tokens_total", provider="anthropic", model="claude-sonnet-4-6", kind="input"),
        "cached": sample("switchboard_tokens_total", provider="anthropic", model="claude-sonnet-4-6", kind="cached"),
        "cost": sample("switchboard_cost_usd_total", provider="anthropic", model="claude-sonnet-4-6",
                       route="creative_writing", tenant="none"),
    }
    with httpx.Client(base_url=serve(make_config(retry={"max_retries": 1})), timeout=30) as client:
        # A client's metadata.tenant is not attribution (only an API key's tenant is): it counts as "none".
        body = client.post("/complete", json={"text": "hi", "task_type": "creative_writing",
                                              "metadata": {"tenant": "acme-metrics"}}).json()
        assert outcomes(body["route"]["attempts"]) == [
            ("openai", "server_error"), ("openai", "server_error"), ("anthropic", "ok")]
        exposition = client.get("/metrics").text
    assert sample("switchboard_attempts_total", **labels["openai_errors"]) - before["openai_errors"] == 2
    assert sample("switchboard_attempts_total", **labels["anthropic_ok"]) - before["anthropic_ok"] == 1
    assert sample("switchboard_retries_total", provider="openai", model="gpt-5.4",
                  reason="server_error") - before["retries"] == 1
    assert sample("switchboard_failovers_total", from_provider="openai", reason="server_error") - before["failovers"] == 1
    assert sample("switchboard_requests_total", route="creative_writing", status="200") - before["requests"] == 1
    assert sample("switchboard_tokens_total", provider="anthropic", model="claude-sonnet-4-6",
                  kind="input") - before["input"] == 140  # Anthropic's input excludes cache reads; ours includes
    assert sample("switchboard_tokens_total", provider="anthropic", model="claude-sonnet-4-6",
                  kind="cached") - before["cached"] == 40
    cost = sample("switchboard_cost_usd_total", provider="anthropic", model="claude-sonnet-4-6",
                  route="creative_writing", tenant="none") - before["cost"]
    assert cost == pytest.approx(body["cost_usd"]) == pytest.approx((100 * 3.0 + 40 * 0.30 + 20 * 15.0) / 1e6)
    assert 'switchboard_cost_usd_total{model="claude-sonnet-4-6",provider="anthropic",route="creative_writing",' \
           'tenant="none"}' in exposition
    assert "acme-metrics" not in exposition
    assert "switchboard_gateway_overhead_seconds_bucket" in exposition
    assert 'switchboard_breaker_state{target="openai:gpt-5.4"} 0.0' in exposition


def test_one_trace_per_request_request_decision_attempts_in_order(serve, fakes, spans) -> None:
    fakes.openai.push(Reply(status=429, headers={"retry-after-ms": "10"}), Reply(status=503))
    incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{incoming_trace}-00f067aa0ba902b7-01"
    with httpx.Client(base_url=serve(make_config(retry={"max_retries": 1}))) as client:
        response = client.post("/complete", json={"text": "hi", "task_type": "creative_writing"},
                               headers={"traceparent": traceparent})
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in finished} == {incoming_trace}  # continued, one trace
    (request,) = [s for s in finished if s.name == "switchboard.request"]
    assert request.kind is SpanKind.SERVER and format(request.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert request.attributes["gen_ai.usage.input_tokens"] == 11
    ours = sorted([s for s in finished if s.name in ("switchboard.route", "switchboard.attempt")],
                  key=lambda s: s.start_time)
    assert [s.name for s in ours] == ["switchboard.route"] + ["switchboard.attempt"] * 3
    assert all(s.parent.span_id == request.context.span_id for s in ours)
    attempts = ours[1:]
    assert [(s.attributes["switchboard.provider"], s.attributes["switchboard.outcome"]) for s in attempts] == [
        ("openai", "rate_limited"), ("openai", "overloaded"), ("anthropic", "ok")]
    assert attempts[1].attributes["switchboard.wait_ms"] >= 10
    assert attempts[0].attributes["gen_ai.system"] == "openai"
    assert attempts[2].attributes["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert all(a.kind is SpanKind.CLIENT for a in attempts)  # each provider call is a client span
    assert "gen_ai.prompt" not in request.attributes  # no prompt text unless configured
    # The log line carries the trace id.
    assert ours[0].attributes["switchboard.route"] == "creative_writing"


def test_the_log_line_carries_the_trace_id(serve, fakes, spans, capsys) -> None:
    with httpx.Client(base_url=serve()) as client:
        client.post("/complete", json={"text": "hi"})
    (line,) = request_logs(capsys.readouterr().out)
    (request,) = [s for s in spans.get_finished_spans() if s.name == "switchboard.request"]
    assert line["trace_id"] == format(request.context.trace_id, "032x")


async def test_a_pipelines_steps_are_children_of_its_span(switchboard, fakes, spans) -> None:
    await switchboard.run_pipeline("blog_post", topic="tracing")
    finished = spans.get_finished_spans()
    (pipeline,) = [s for s in finished if s.name == "switchboard.pipeline"]
    steps = [s for s in finished if s.name == "switchboard.step"]
    assert [s.attributes["switchboard.step"] for s in sorted(steps, key=lambda s: s.start_time)] == [
        "draft", "critique", "rewrite"]
    assert all(s.parent.span_id == pipeline.context.span_id for s in steps)
    requests = [s for s in finished if s.name == "switchboard.request"]
    assert {r.parent.span_id for r in requests} == {s.context.span_id for s in steps}
    assert len({s.context.trace_id for s in finished}) == 1


@pytest.mark.parametrize(
    ("task_type", "fake", "reply", "expected"),
    [
        ("creative_writing", "openai", Reply(input_tokens=1000, output_tokens=200, cached_tokens=600),
         (400 * 1.25 + 600 * 0.125 + 200 * 10.0) / 1e6),
        ("technical_explanation", "anthropic",
         Reply(input_tokens=300, output_tokens=50, cached_tokens=500, cache_write_tokens=200),
         (300 * 3.0 + 500 * 0.30 + 200 * 3.75 + 50 * 15.0) / 1e6),
        ("summarization", "cohere", Reply(input_tokens=800, output_tokens=90, cached_tokens=0),
         (800 * 2.5 + 90 * 10.0) / 1e6),
    ],
    ids=["openai", "anthropic", "cohere"],
)
def test_cost_equals_hand_computed_cost_from_reported_usage(gateway, fakes, task_type, fake, reply, expected) -> None:
    getattr(fakes, fake).default = reply
    body = gateway.post("/complete", json={"text": "hi", "task_type": task_type}).json()
    assert body["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert body["cost_estimated"] is False
    streamed = gateway.post("/complete", json={"text": "hi", "task_type": task_type, "stream": True}).text
    end = json.loads(streamed.split("event: end\ndata: ", 1)[1].split("\n", 1)[0])
    assert end["cost_usd"] == body["cost_usd"]


def test_missing_usage_is_estimated_and_marked(gateway, fakes) -> None:
    fakes.openai.default = Reply(status=500)
    fakes.anthropic.default = Reply(status=500)
    fakes.vllm.default = Reply(text="x" * 40, no_usage=True)
    body = gateway.post("/complete", json={"text": "y" * 80}).json()
    assert body["provider"] == "local" and body["cost_estimated"] is True
    assert body["usage"]["input_tokens"] == 20 and body["usage"]["output_tokens"] == 10


def test_no_key_or_authorization_value_in_logs_spans_or_metrics(serve, fakes, spans, capfd) -> None:
    for fake in (fakes.openai, fakes.anthropic, fakes.cohere):
        fake.api_key = "refuse-everything"
    with httpx.Client(base_url=serve(make_config(retry={"max_retries": 0}))) as client:
        for task_type in ("creative_writing", "technical_explanation", "summarization"):
            client.post("/complete", json={"text": "hi", "task_type": task_type})
            client.post("/complete", json={"text": "hi", "task_type": task_type, "stream": True})
        exposition = client.get("/metrics").text
    captured = capfd.readouterr()
    span_text = json.dumps([dict(s.attributes) for s in spans.get_finished_spans()]) + "".join(
        s.to_json() for s in spans.get_finished_spans())
    everything = captured.out + captured.err + span_text + exposition
    assert "auth_error" in captured.out and "switchboard.attempt" in span_text
    for key in KEYS.values():
        assert key not in everything and key[:12] not in everything
    assert not re.search(r"(?i)bearer\s+sk-", everything)


def test_the_dashboard_is_grafana_json_whose_queries_use_exported_metrics(gateway, fakes) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "switchboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    assert dashboard["panels"]
    gateway.post("/complete", json={"text": "hi", "stream": True})
    gateway.post("/complete", json={"text": "hi", "task_type": "nope"})
    exported = set(re.findall(r"^([a-z_:]+)(?:\{|\s)", gateway.get("/metrics").text, re.M))
    exprs = []
    for panel in dashboard["panels"]:
        assert {"id", "type", "title", "gridPos", "targets"} <= set(panel)
        for target in panel["targets"]:
            assert target["refId"] and target["expr"]
            exprs.append(target["expr"])
    used = {name for expr in exprs for name in re.findall(r"\b(switchboard_[a-z_]+)", expr)}
    assert used and used <= exported, used - exported
    for name in ("switchboard_requests_total", "switchboard_failovers_total", "switchboard_breaker_state",
                 "switchboard_tokens_total", "switchboard_cost_usd_total"):
        assert name in used


def _record(request_id: str, timestamp: str, **fields: object) -> str:
    """A request line as the gateway writes it: the marker and the checksum over its figures."""
    line = {"event": "request", "record": RECORD, "request_id": request_id, "timestamp": timestamp, **fields}
    line["sum"] = checksum(request_id, timestamp, line["cost_usd"], line["input_tokens"], line["output_tokens"])
    return json.dumps(line)


SAMPLE_LOG = "\n".join([
    _record("r1", "2026-11-20T10:00:00Z", status=200, provider="openai", model="gpt-5.4", route="creative_writing",
            tenant="acme", input_tokens=100, output_tokens=50, cached_tokens=10, cost_usd=0.000625,
            cost_estimated=False),
    _record("r2", "2026-11-20T11:00:00Z", status=200, provider="openai", model="gpt-5.4", route="creative_writing",
            tenant="acme", input_tokens=200, output_tokens=100, cached_tokens=0, cost_usd=0.00125,
            cost_estimated=False),
    _record("r3", "2026-11-20T12:00:00Z", status=200, provider="anthropic", model="claude-haiku-4-5",
            route="default", tenant="globex", input_tokens=1000, output_tokens=10, cached_tokens=0,
            cost_usd=0.00105, cost_estimated=False),
    _record("r4", "2026-11-20T12:30:00Z", status=502, provider=None, model=None, route="default", tenant="globex",
            input_tokens=0, output_tokens=0, cached_tokens=0, cost_usd=0.0),
    '{"event":"job_submitted","timestamp":"2026-11-20T12:31:00Z"}',
    "not a json line",
    # Looks like a record, but its figures were edited (as a README's sample might be): not counted.
    '{"event":"request","record":"request","request_id":"r9","timestamp":"2026-11-20T12:40:00Z","status":200,'
    '"provider":"openai","model":"gpt-5.4","route":"x","tenant":"acme","input_tokens":9,"output_tokens":9,'
    '"cached_tokens":0,"cost_usd":9.0,"sum":"00000000"}',
    _record("r5", "2026-11-22T09:00:00Z", status=200, provider="local", model="qwen", route="default", tenant=None,
            input_tokens=5, output_tokens=5, cached_tokens=0, cost_usd=0.0, cost_estimated=True),
]) + "\n"


def run_costs(*args: str, stdin: str | None = None,
              process: bool = False) -> subprocess.CompletedProcess[str]:
    """`switchboard costs ARGS`: in this process (the CLI runner), or as its own process with `process`."""
    if process:
        return subprocess.run([sys.executable, "-m", "switchboard", "costs", *args], input=stdin,
                              capture_output=True, text=True, timeout=60)
    result = cli("costs", *args, stdin=stdin)
    return subprocess.CompletedProcess(["costs", *args], result.exit_code, result.stdout, result.stderr)


def test_switchboard_costs_prints_the_right_totals(tmp_path) -> None:
    log = tmp_path / "requests.log"
    log.write_text(SAMPLE_LOG)
    table = run_costs(str(log), "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z",
                      process=True)
    assert table.returncode == 0, table.stderr
    assert "left out 1 request(s) that no provider answered" in table.stderr  # r4, the 502
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["provider", "model", "route", "tenant", "requests"]
    acme = next(line.split() for line in lines if "acme" in line)
    assert acme[:8] == ["openai", "gpt-5.4", "creative_writing", "acme", "2", "300", "150", "10"]
    assert acme[8] == "0.001875"
    total = lines[-1].split()
    assert total[0] == "TOTAL" and total[1:5] == ["3", "1300", "160", "10"] and total[5] == "0.002925"
    assert "qwen" not in table.stdout  # outside the window

    by_provider = run_costs("-", "--by", "provider", "--csv", stdin=SAMPLE_LOG)
    rows = [line.split(",") for line in by_provider.stdout.splitlines()]
    assert rows[0] == ["provider", "requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd",
                       "estimated"]
    assert {r[0]: (r[1], r[5], r[6]) for r in rows[1:]} == {
        "openai": ("2", "0.001875", "0"), "anthropic": ("1", "0.001050", "0"), "local": ("1", "0.000000", "1")}

    bad = run_costs(str(log), "--by", "colour")
    assert bad.returncode != 0 and "--by" in bad.stderr


def test_costs_warns_when_a_file_holds_no_request_records(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Notes\n\n" + SAMPLE_LOG.splitlines()[6] + "\nsome prose\n")  # an edited sample line
    result = run_costs(str(readme))
    assert result.returncode == 0
    assert "found no request records" in result.stderr
    assert result.stdout.splitlines()[-1].split()[:2] == ["TOTAL", "0"]


def test_costs_warns_on_an_empty_log_and_prints_the_same_table(tmp_path) -> None:
    log = tmp_path / "requests.log"
    log.write_text("")
    result = run_costs(str(log), "--by", "tenant")
    assert result.returncode == 0
    assert f"{log} is empty: no request records" in result.stderr and "left out" not in result.stderr
    assert result.stdout.splitlines()[0].split()[:2] == ["tenant", "requests"]
    assert result.stdout.splitlines()[-1].split()[:2] == ["TOTAL", "0"]


@pytest.mark.parametrize("since", ["2026-11-20", "2026-11-20T10:00:00Z", "45s", "30m", "24h", "7d", "2w"])
def test_costs_since_accepts_every_form_its_help_names(tmp_path, since) -> None:
    log = tmp_path / "requests.log"
    log.write_text(SAMPLE_LOG)
    assert run_costs(str(log), "--since", since).returncode == 0


def test_costs_names_the_accepted_forms_for_a_bad_since(tmp_path) -> None:
    log = tmp_path / "requests.log"
    log.write_text(SAMPLE_LOG)
    result = run_costs(str(log), "--since", "yesterday")
    assert result.returncode == 2 and "ISO 8601" in result.stderr and "24h" in result.stderr
