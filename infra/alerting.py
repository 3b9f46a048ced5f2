"""Switchboard's alert rules and where they go: the rule file the repository ships
(`deploy/prometheus/alerts.yaml`, tested with promtool), read at preview and deployed as a PrometheusRule, and
Alertmanager's configuration for the stack's receiver.

The receiver is the stack's `alertReceiver` secret:
- `https://hooks.slack.com/...`: a Slack incoming webhook;
- `pagerduty://<routing key>`: PagerDuty's Events API v2, with an integration's routing key;
- any other `https://` URL: Alertmanager's generic webhook;
- unset: a null receiver; alerts still fire and show in Alertmanager's UI (and Grafana), they are sent
  nowhere."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from infra.errors import StackConfigError

RULES_FILE = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "alerts.yaml"
RUNBOOK_BASE = "https://github.com/switchboard/switchboard/blob/main/docs/runbooks/"
NULL_RECEIVER = "null"
RECEIVER = "switchboard"


def rule_groups(runbook_base: str | None = None, path: Path = RULES_FILE) -> list[dict[str, Any]]:
    """The rule file's groups, each alert's `runbook_url` moved under `runbook_base` when one is given."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StackConfigError(f"{path}: the alert rule file is missing") from None
    except yaml.YAMLError as error:
        raise StackConfigError(f"{path}: not YAML: {error}") from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not groups:
        raise StackConfigError(f"{path}: a Prometheus rule file has a non-empty `groups:` list")
    groups = copy.deepcopy(groups)
    if runbook_base:
        base = runbook_base if runbook_base.endswith("/") else f"{runbook_base}/"
        for group in groups:
            for rule in group.get("rules") or ():
                annotations = rule.get("annotations") or {}
                url = annotations.get("runbook_url")
                if isinstance(url, str) and url.startswith(RUNBOOK_BASE):
                    annotations["runbook_url"] = base + url.removeprefix(RUNBOOK_BASE)
    return groups


def receiver_kind(url: str, key: str = "alertReceiver") -> str:
    """`slack`, `pagerduty` or `webhook`; anything else is an error naming the key (the value itself is secret)."""
    parsed = urlparse(url)
    if parsed.scheme == "pagerduty":
        if not (parsed.netloc or parsed.path.strip("/")):
            raise StackConfigError(f"{key}: pagerduty:// needs the integration's routing key after it")
        return "pagerduty"
    if parsed.scheme != "https" or not parsed.netloc:
        raise StackConfigError(f"{key}: must be an https:// webhook URL (Slack or any webhook) or "
                               "pagerduty://<routing key>")
    return "slack" if parsed.netloc == "hooks.slack.com" else "webhook"


def alertmanager_config(receiver_url: str | None) -> dict[str, Any]:
    """Alertmanager's configuration: every alert to the stack's receiver (or the null one), grouped per alert and
    provider; kube-prometheus-stack's Watchdog (always firing, by design) to the null receiver."""
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    default = NULL_RECEIVER
    if receiver_url:
        kind = receiver_kind(receiver_url)
        if kind == "slack":
            target = {"slack_configs": [{"api_url": receiver_url, "send_resolved": True,
                                         "title": "{{ .CommonLabels.alertname }} ({{ .Status }})",
                                         "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n"
                                                 "{{ .Annotations.runbook_url }}\n{{ end }}"}]}
        elif kind == "pagerduty":
            parsed = urlparse(receiver_url)
            target = {"pagerduty_configs": [{"routing_key": (parsed.netloc + parsed.path).strip("/"),
                                             "send_resolved": True}]}
        else:
            target = {"webhook_configs": [{"url": receiver_url, "send_resolved": True}]}
        receivers.append({"name": RECEIVER, **target})
        default = RECEIVER
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default,
            "group_by": ["alertname", "provider"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']}],
        },
        "receivers": receivers,
    }


def render_alertmanager_config(receiver_url: str | None) -> str:
    return yaml.safe_dump(alertmanager_config(receiver_url), sort_keys=False)
