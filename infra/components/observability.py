"""Metrics, dashboards and traces: kube-prometheus-stack (Prometheus, Grafana with the Switchboard dashboard, the
operator whose PodMonitors scrape the router's metrics port and vLLM's /metrics) and an OpenTelemetry collector that
takes the services' OTLP traces and sends them to AWS X-Ray (its role through Pod Identity).

Everything runs in the `monitoring` namespace, reached with `kubectl port-forward`; nothing here is exposed.
Alertmanager is off: there is no receiver to send to until one is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import capacity
from infra.components.iam import aws_policy, pod_role
from infra.components.k8s import MONITORING_NAMESPACE, SYSTEM_POOL

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "switchboard.json"
PROMETHEUS_CHART_VERSION = "75.15.1"
PROMETHEUS_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
COLLECTOR_CHART_VERSION = "0.143.0"
COLLECTOR_REPOSITORY = "https://open-telemetry.github.io/opentelemetry-helm-charts"
COLLECTOR = "otel-collector"
OTLP_HTTP_PORT = 4318
GRAFANA_ADMIN_SECRET = "grafana-admin"


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods whose named port serves Prometheus metrics at `path`."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    port: str
    path: str = "/metrics"


def _requests(cpu: str, memory: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


class Observability(pulumi.ComponentResource):
    otlp_endpoint: str
    prometheus: k8s.helm.v3.Release

    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        region: str,
        storage_class: str,
        retention: str,
        storage: str,
        replicas: int,
        targets: Sequence[ScrapeTarget],
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": MONITORING_NAMESPACE}, opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[namespace])

        password = random.RandomPassword(f"{name}-grafana", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self)).result
        k8s.core.v1.Secret(f"{name}-grafana-admin",
                           metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": MONITORING_NAMESPACE},
                           string_data={"admin-user": "admin", "admin-password": password}, opts=in_namespace)
        self.prometheus = k8s.helm.v3.Release(
            f"{name}-prometheus",
            name="kube-prometheus-stack",
            chart="kube-prometheus-stack",
            version=PROMETHEUS_CHART_VERSION,
            repository_opts={"repo": PROMETHEUS_REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            timeout=900,
            values={
                "alertmanager": {"enabled": False},
                # The EKS control plane's components are not scrapeable from inside the cluster.
                **{key: {"enabled": False} for key in ("kubeEtcd", "kubeControllerManager", "kubeScheduler",
                                                       "kubeProxy")},
                "prometheus": {"prometheusSpec": {
                    "retention": retention,
                    # Every PodMonitor and ServiceMonitor, not only those labelled with this release.
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "nodeSelector": SYSTEM_POOL,
                    "resources": _requests("200m", "1Gi", "2Gi"),
                    "storageSpec": {"volumeClaimTemplate": {"spec": {
                        "storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage}}}}},
                }},
                "prometheusOperator": {"nodeSelector": SYSTEM_POOL, "resources": _requests("50m", "128Mi", "256Mi")},
                "kube-state-metrics": {"nodeSelector": SYSTEM_POOL, "resources": _requests("20m", "64Mi", "256Mi")},
                "prometheus-node-exporter": {
                    "resources": {"requests": capacity.as_requests(capacity.NODE_EXPORTER),
                                  "limits": {"memory": "128Mi"}},
                    "tolerations": [{"operator": "Exists"}],  # GPU nodes too
                },
                "grafana": {
                    "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user",
                              "passwordKey": "admin-password"},
                    "nodeSelector": SYSTEM_POOL,
                    "resources": _requests("50m", "256Mi", "512Mi"),
                    # Dashboards are ConfigMaps labelled grafana_dashboard=1 in this namespace.
                    "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
                },
            },
            opts=in_namespace,
        )
        after_crds = pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[self.prometheus])
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata={"name": "switchboard-dashboard", "namespace": MONITORING_NAMESPACE,
                      "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "switchboard"}},
            data={"switchboard.json": DASHBOARD.read_text()},
            opts=in_namespace,
        )
        for target in targets:
            k8s.apiextensions.CustomResource(
                f"{name}-{target.name}", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
                metadata={"name": target.name, "namespace": MONITORING_NAMESPACE},
                spec={"namespaceSelector": {"matchNames": [target.namespace]},
                      "selector": {"matchLabels": dict(target.labels)},
                      "podMetricsEndpoints": [{"port": target.port, "path": target.path, "interval": "30s"}]},
                opts=after_crds,
            )

        pod_role(f"{name}-collector", self, cluster_name=cluster_name, namespace=MONITORING_NAMESPACE,
                 service_account=COLLECTOR, policy_arns=[aws_policy("AWSXrayWriteOnlyAccess")],
                 description="Switchboard: the OpenTelemetry collector (traces to X-Ray)")
        k8s.helm.v3.Release(
            f"{name}-collector",
            name=COLLECTOR,
            chart="opentelemetry-collector",
            version=COLLECTOR_CHART_VERSION,
            repository_opts={"repo": COLLECTOR_REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            values={
                "mode": "deployment",
                "fullnameOverride": COLLECTOR,
                "replicaCount": replicas,
                "image": {"repository": "otel/opentelemetry-collector-contrib"},
                "serviceAccount": {"create": True, "name": COLLECTOR},
                "resources": _requests("50m", "128Mi", "512Mi"),
                "config": {
                    "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"},
                                                         "grpc": {"endpoint": "0.0.0.0:4317"}}}},
                    "processors": {"memory_limiter": {"check_interval": "1s", "limit_percentage": 80,
                                                      "spike_limit_percentage": 20},
                                   "batch": {}},
                    "exporters": {"awsxray": {"region": region}},
                    "service": {"pipelines": {"traces": {"receivers": ["otlp"],
                                                         "processors": ["memory_limiter", "batch"],
                                                         "exporters": ["awsxray"]}}},
                },
            },
            opts=in_namespace,
        )
        self.otlp_endpoint = f"http://{COLLECTOR}.{MONITORING_NAMESPACE}.svc.cluster.local:{OTLP_HTTP_PORT}"
        self.register_outputs({"otlp_endpoint": self.otlp_endpoint})

