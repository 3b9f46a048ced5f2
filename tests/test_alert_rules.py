"""The alert rules in deploy/prometheus/alerts.yaml: valid for Prometheus, unit tested with promtool (every
alert firing and staying quiet), each with its annotations and runbook, built only from metrics that exist.

promtool is the real tool (Debian's `prometheus` package ships it; `make test` installs it): without it these
tests fail, they do not skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
UNIT_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yaml"))
RUNBOOKS = ROOT / "docs" / "runbooks"
DASHBOARD = ROOT / "deploy" / "grafana" / "switchboard.json"
RUNBOOK_URL = "https://github.com/switchboard/switchboard/blob/main/docs/runbooks/{}.md"
SEVERITIES = {"page", "warning"}
RUNBOOK_SECTIONS = ("## What it means", "## Look", "## Act", "## Over when", "## Post-mortem")

# Not the gateway's: Prometheus' own per scrape target, and vLLM's /metrics.
SCRAPED_ELSEWHERE = {"up", "vllm:num_requests_waiting", "vllm:time_to_first_token_seconds_bucket"}

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "offset", "bool", "inf", "nan"}


def _groups() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES.read_text())["groups"]


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _groups() for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _records() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def selectors(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords, label names and strings left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[a-zA-Z_:][\w:]*", expr):
        followed_by = expr[match.end():].lstrip()[:1]
        if followed_by != "(" and match.group() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def exported_metrics() -> set[str]:
    """Every sample name the gateway's registry can expose: counters end in _total, histograms in
    _bucket/_count/_sum."""
    import prometheus_client

    import switchboard.telemetry.metrics  # noqa: F401 (registers the gateway's metrics)

    names = set()
    for family in prometheus_client.REGISTRY.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                    "summary": ("_count", "_sum", "")}.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: install Debian's prometheus package "
                    "(apt-get install -y prometheus), which ships it; `make test` does this")
    return path


def test_promtool_accepts_the_rule_file(promtool: str) -> None:
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


@pytest.mark.slow
def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert UNIT_TESTS, "no promtool unit tests in deploy/prometheus/tests/"
    result = subprocess.run([promtool, "test", "rules", *map(str, UNIT_TESTS)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS), result.stdout


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        spec = yaml.safe_load(path.read_text())
        assert spec["rule_files"] == ["../alerts.yaml"], f"{path.name}: must load ../alerts.yaml"
        for test in spec["tests"]:
            for check in test.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {alert["alert"] for alert in _alerts()}
    assert alerts - fires == set(), "alerts never seen firing in a unit test"
    assert alerts - quiet == set(), "alerts never checked quiet in a unit test"
    assert (fires | quiet) - alerts == set(), "unit tests for alerts that do not exist"


def test_every_alert_has_a_severity_annotations_and_a_runbook_url() -> None:
    alerts = _alerts()
    assert len(alerts) >= 10
    names = [alert["alert"] for alert in alerts]
    assert len(names) == len(set(names)), "duplicate alert names"
    for alert in alerts:
        name = alert["alert"]
        assert alert.get("labels", {}).get("severity") in SEVERITIES, f"{name}: labels.severity"
        annotations = alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key, "").strip(), f"{name}: annotations.{key} is missing"
        assert annotations["runbook_url"] == RUNBOOK_URL.format(name), f"{name}: annotations.runbook_url"


def test_windows_and_for_are_plain_literals_the_drill_can_rescale() -> None:
    for rule in _rules():
        name = rule.get("alert") or rule["record"]
        for window in re.findall(r"\[[^\]]*\]", rule["expr"]):
            assert re.fullmatch(r"\[\d+[smhd]\]", window), f"{name}: window {window} (no subqueries)"
        assert "offset" not in rule["expr"], f"{name}: offset is not rescaled by the drill"
        if "alert" in rule:
            assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: `for` must be like 5m"


def test_recording_rules_come_before_their_users_in_the_same_group() -> None:
    """A group's rules run in order in one pass; across groups the order is not guaranteed."""
    records = _records()
    for group in _groups():
        seen: set[str] = set()
        for rule in group["rules"]:
            used = selectors(rule["expr"]) & records
            name = rule.get("alert") or rule["record"]
            assert used <= seen, f"{name}: uses {used - seen} before they are recorded in its group"
            if "record" in rule:
                seen.add(rule["record"])


def test_every_metric_the_rules_use_is_exported() -> None:
    used = set().union(*(selectors(rule["expr"]) for rule in _rules()))
    # the extraction itself: it must find the plain names and drop functions and labels
    assert {"switchboard_attempts_total", "switchboard_shed_total", "up"} <= used
    assert not used & {"rate", "sum", "histogram_quantile", "le", "provider", "outcome"}
    records = _records()
    raw = {name for name in used if name not in records}
    undefined = {name for name in raw - SCRAPED_ELSEWHERE if ":" in name}
    assert undefined == set(), "recording rules used, never defined"
    unknown = raw - exported_metrics() - SCRAPED_ELSEWHERE
    assert unknown == set(), f"metrics the gateway does not export: {sorted(unknown)}"


def test_outcomes_matched_by_the_rules_are_in_the_vocabulary() -> None:
    from switchboard.core.outcome import Outcome

    vocabulary = {outcome.value for outcome in Outcome}
    matched: set[str] = set()
    for rule in _rules():
        for values in re.findall(r'outcome\s*(?:=~|!~|!=|=)\s*"([^"]*)"', rule["expr"]):
            matched.update(values.split("|"))
    assert {"connect_error", "rate_limited", "drained"} <= matched
    assert matched - vocabulary == set(), "outcomes that do not exist"


def test_every_alert_has_a_runbook_with_its_sections_listed_in_the_index() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    names = {alert["alert"] for alert in _alerts()}
    for name in names:
        page = RUNBOOKS / f"{name}.md"
        assert page.is_file(), f"docs/runbooks/{name}.md is missing"
        text = page.read_text()
        assert text.startswith(f"# {name}\n"), f"{page.name}: must start with '# {name}'"
        for section in RUNBOOK_SECTIONS:
            assert f"\n{section}\n" in text, f"{page.name}: section '{section}' is missing"
        assert f"]({name}.md)" in index, f"docs/runbooks/README.md does not link {name}.md"
    pages = {page.stem for page in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages - names == set(), "runbooks for alerts that do not exist"


def test_runbooks_name_only_panels_the_dashboard_has() -> None:
    def titles(panels: list[dict[str, Any]]) -> set[str]:
        return {panel["title"] for panel in panels} | {
            title for panel in panels for title in titles(panel.get("panels", []))}

    panels = titles(json.loads(DASHBOARD.read_text())["panels"])
    named: set[str] = set()
    for page in RUNBOOKS.glob("Switchboard*.md"):
        # bold text in a runbook is a panel title, except labels such as **Severity:**
        bold = re.findall(r"\*\*(.+?)\*\*", page.read_text())
        named.update(title for title in bold if not title.endswith(":"))
    assert len(named) >= 5
    assert named - panels == set(), "runbooks name panels the dashboard does not have"
