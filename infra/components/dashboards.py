"""The Grafana dashboard, as a ConfigMap the Grafana sidecar picks up (label `grafana_dashboard: "1"`)."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "switchboard.json"


class Dashboards(pulumi.ComponentResource):
    def __init__(self, name: str, *, namespace: str, k8s_provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("switchboard:infra:Dashboards", name, None, opts)
        k8s.core.v1.ConfigMap(
            name,
            metadata={"name": "switchboard-dashboard", "namespace": namespace,
                      "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "switchboard"}},
            data={"switchboard.json": DASHBOARD.read_text()},
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider),
        )
        self.register_outputs({})
