"""Metrics, alerts and the custom metric the router scales on.

- prometheus-operator-crds (the CRDs, which Helm upgrades) and kube-prometheus-stack: Prometheus, Grafana with
  the Switchboard dashboard, and Alertmanager, configured from a Secret this program writes (the stack's
  receiver, see infra/alerting.py). Prometheus picks up every PodMonitor, ServiceMonitor and PrometheusRule.
- PodMonitors for the router's metrics port, vLLM, Karpenter and the load balancer controller; the DCGM
  exporter's chart brings its own ServiceMonitor (gpu_pool.py).
- Switchboard's alert rules (deploy/prometheus/alerts.yaml) as a PrometheusRule.
- prometheus-adapter, serving `switchboard_in_flight` (requests in flight per pod, summed over the pod's
  worker processes) on the custom metrics API for the router's HPA. Chosen over KEDA: one chart, no operator,
  no CRDs, no admission webhook, and the HPA stays a plain autoscaling/v2 object (docs/deploy.md).

Everything runs in the `monitoring` namespace, reached with `kubectl port-forward`; nothing here is exposed.
Prometheus's and Alertmanager's volumes are deleted with them (persistentVolumeClaimRetentionPolicy), so a
`pulumi destroy` leaves no EBS volume behind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import alerting, capacity, versions
from infra.components.base import Component
from infra.components.k8s import MONITORING_NAMESPACE, SYSTEM_POOL

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "switchboard.json"
REPOSITORY = "https://prometheus-community.github.io/helm-charts"
RELEASE = "kube-prometheus-stack"
RULE_LABELS = {"release": RELEASE, "app.kubernetes.io/part-of": "switchboard"}
PROMETHEUS_URL = f"http://{RELEASE}-prometheus.{MONITORING_NAMESPACE}.svc"
GRAFANA_ADMIN_SECRET = "grafana-admin"
ALERTMANAGER_SECRET = "alertmanager-switchboard"
IN_FLIGHT = "switchboard_in_flight"
DELETE_VOLUMES = {"whenDeleted": "Delete", "whenScaled": "Retain"}


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods whose named port serves Prometheus metrics at `path`."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    port: str
    path: str = "/metrics"


def resources(cpu: str, memory: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def in_flight_rule() -> dict:
    """prometheus-adapter's rule: `switchboard_in_flight` per pod, from the router's PodMonitor series."""
    return {
        "seriesQuery": f'{IN_FLIGHT}{{namespace!="",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{IN_FLIGHT}$", "as": IN_FLIGHT},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    }


class Monitoring(Component):
    crds: k8s.helm.v3.Release  # what a PodMonitor, ServiceMonitor or PrometheusRule waits for
    prometheus: k8s.helm.v3.Release
    adapter: k8s.helm.v3.Release
    namespace: k8s.core.v1.Namespace

    def __init__(
        self,
        name: str,
        *,
        storage_class: str,
        retention: str,
        storage: str,
        replicas: int,
        targets: Sequence[ScrapeTarget],
        alert_receiver: pulumi.Output[str] | None,
        runbook_base: str | None,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:Monitoring", name, opts)
        self.namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": MONITORING_NAMESPACE},
                                               opts=self.child(provider=k8s_provider))
        in_namespace = self.child(provider=k8s_provider, depends_on=[self.namespace])
        groups = alerting.rule_groups(runbook_base)  # read now: a broken rule file fails the preview

        password = random.RandomPassword(f"{name}-grafana", length=32, special=False, opts=self.child()).result
        k8s.core.v1.Secret(f"{name}-grafana-admin",
                           metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": MONITORING_NAMESPACE},
                           string_data={"admin-user": "admin", "admin-password": password}, opts=in_namespace)
        receiver = (pulumi.Output.secret(alert_receiver).apply(alerting.render_alertmanager_config)
                    if alert_receiver is not None else alerting.render_alertmanager_config(None))
        alertmanager_secret = k8s.core.v1.Secret(
            f"{name}-alertmanager", metadata={"name": ALERTMANAGER_SECRET, "namespace": MONITORING_NAMESPACE},
            string_data={"alertmanager.yaml": receiver}, opts=in_namespace)

        self.crds = k8s.helm.v3.Release(
            f"{name}-crds", name="prometheus-operator-crds", chart="prometheus-operator-crds",
            version=versions.PROMETHEUS_CRDS.version, repository_opts={"repo": REPOSITORY},
            namespace=MONITORING_NAMESPACE, opts=in_namespace)
        self.prometheus = k8s.helm.v3.Release(
            f"{name}-prometheus",
            name=RELEASE,
            chart=RELEASE,
            version=versions.PROMETHEUS_STACK.version,
            repository_opts={"repo": REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            timeout=900,
            skip_crds=True,  # prometheus-operator-crds owns them (and upgrades them)
            values={
                "crds": {"enabled": False},
                "alertmanager": {"enabled": True, "alertmanagerSpec": {
                    "useExistingSecret": True,
                    "configSecret": ALERTMANAGER_SECRET,
                    "nodeSelector": SYSTEM_POOL,
                    "resources": resources("20m", "64Mi", "128Mi"),
                    "persistentVolumeClaimRetentionPolicy": DELETE_VOLUMES,
                }},
                # The EKS control plane's components are not scrapeable from inside the cluster.
                **{key: {"enabled": False} for key in ("kubeEtcd", "kubeControllerManager", "kubeScheduler",
                                                       "kubeProxy")},
                "prometheus": {"prometheusSpec": {
                    "retention": retention,
                    # Every PodMonitor, ServiceMonitor and PrometheusRule, not only those of this release.
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "nodeSelector": SYSTEM_POOL,
                    "resources": resources("200m", "1Gi", "2Gi"),
                    "persistentVolumeClaimRetentionPolicy": DELETE_VOLUMES,
                    "storageSpec": {"volumeClaimTemplate": {"spec": {
                        "storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage}}}}},
                }},
                "prometheusOperator": {"nodeSelector": SYSTEM_POOL, "resources": resources("50m", "128Mi", "256Mi")},
                "kube-state-metrics": {"nodeSelector": SYSTEM_POOL, "resources": resources("20m", "64Mi", "256Mi")},
                "prometheus-node-exporter": {
                    "resources": {"requests": capacity.as_requests(capacity.NODE_EXPORTER),
                                  "limits": {"memory": "128Mi"}},
                    "tolerations": [{"operator": "Exists"}],  # GPU nodes too
                },
                "grafana": {
                    "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user",
                              "passwordKey": "admin-password"},
                    "nodeSelector": SYSTEM_POOL,
                    "resources": resources("50m", "256Mi", "512Mi"),
                    # Dashboards are ConfigMaps labelled grafana_dashboard=1 in this namespace.
                    "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
                },
            },
            opts=self.child(provider=k8s_provider, depends_on=[self.namespace, self.crds, alertmanager_secret]),
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata={"name": "switchboard-dashboard", "namespace": MONITORING_NAMESPACE,
                      "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "switchboard"}},
            data={"switchboard.json": DASHBOARD.read_text()},
            opts=in_namespace,
        )
        # The operator's admission webhook validates PrometheusRules: they wait for the release that serves it.
        after_operator = self.child(provider=k8s_provider, depends_on=[self.crds, self.prometheus])
        for target in targets:
            k8s.apiextensions.CustomResource(
                f"{name}-{target.name}", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
                metadata={"name": target.name, "namespace": MONITORING_NAMESPACE},
                spec={"namespaceSelector": {"matchNames": [target.namespace]},
                      "selector": {"matchLabels": dict(target.labels)},
                      "podMetricsEndpoints": [{"port": target.port, "path": target.path, "interval": "30s"}]},
                opts=after_operator,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-switchboard-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": "switchboard", "namespace": MONITORING_NAMESPACE, "labels": RULE_LABELS},
            spec={"groups": groups}, opts=after_operator)

        self.adapter = k8s.helm.v3.Release(
            f"{name}-adapter",
            name="prometheus-adapter",
            chart="prometheus-adapter",
            version=versions.PROMETHEUS_ADAPTER.version,
            repository_opts={"repo": REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            values={
                "prometheus": {"url": PROMETHEUS_URL, "port": 9090},
                # Only this rule: the resource metrics API stays metrics-server's.
                "rules": {"default": False, "custom": [in_flight_rule()]},
                "replicas": replicas,
                "nodeSelector": SYSTEM_POOL,
                "resources": resources("50m", "128Mi", "256Mi"),
            },
            opts=self.child(provider=k8s_provider, depends_on=[self.namespace, self.prometheus]),
        )
        self.register_outputs({})
