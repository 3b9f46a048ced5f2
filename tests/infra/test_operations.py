"""Blocker 5 and 8 of issue 20, and the operations issue 22 and 27 ask of the platform: readiness about the pod,
an HPA on requests in flight, one process per CPU with merged metrics, a worker grace as long as a job,
re-creatable secrets, prod snapshots, pods' logs shipped off the nodes, alerts deployed and routed, every
controller scraped."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from infra import alerting
from infra.components.karpenter import LABELS as KARPENTER_LABELS
from infra.components.load_balancer_controller import LABELS as LBC_LABELS
from infra.config import StackConfigError
from switchboard.config import default_config_data
from tests.infra.stack import SECRET_SIGNATURE, Deployment, deploy, unwrap

STACKS = ["dev", "prod"]
SERVICE_MAX_IN_FLIGHT = default_config_data()["server"]["max_in_flight"]


def router(deployment: Deployment, name: str = "switchboard-router") -> dict:
    (found,) = deployment.k8s("Deployment", name)
    return found


def container(workload: dict) -> dict:
    (found,) = workload["spec"]["template"]["spec"]["containers"]
    return found


def env(workload: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(workload)["env"]}


@pytest.mark.parametrize("stack", STACKS)
def test_readiness_is_about_the_pod(deployments: dict[str, Deployment], stack: str) -> None:
    """Plain /readyz answers 200 with every upstream breaker open (the router then refuses fast); the strict form
    would empty the load balancer in a provider outage."""
    deployment = deployments[stack]
    probe = container(router(deployment))["readinessProbe"]["httpGet"]
    assert probe["path"] == "/readyz"
    (service,) = [s for s in deployment.k8s("Service") if s["spec"].get("type") == "LoadBalancer"]
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"] == "/readyz"


@pytest.mark.parametrize("stack", STACKS)
def test_the_router_runs_a_process_per_cpu_with_merged_metrics_and_no_cpu_limit(deployments: dict[str, Deployment],
                                                                                stack: str) -> None:
    workload = router(deployments[stack])
    main = container(workload)
    variables = env(workload)
    assert variables["SWITCHBOARD_WORKERS"]["valueFrom"]["resourceFieldRef"] == {
        "containerName": main["name"], "resource": "requests.cpu", "divisor": "1"}
    assert "cpu" in main["resources"]["requests"] and "cpu" not in main["resources"]["limits"]
    assert main["resources"]["limits"]["memory"]  # memory stays bounded
    directory = variables["PROMETHEUS_MULTIPROC_DIR"]["value"]
    (mount,) = [m for m in main["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize(("stack", "workers"), [("dev", 1), ("prod", 2)])
def test_the_hpa_scales_on_requests_in_flight_at_half_of_what_a_pod_sheds_at(
    deployments: dict[str, Deployment], stack: str, workers: int
) -> None:
    deployment = deployments[stack]
    cpu = container(router(deployment))["resources"]["requests"]["cpu"]
    assert workers == math.ceil(float(cpu.rstrip("m")) / (1000 if cpu.endswith("m") else 1))
    (hpa,) = deployment.k8s("HorizontalPodAutoscaler")
    (pods,) = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods["metric"]["name"] == "switchboard_in_flight"
    assert pods["target"] == {"type": "AverageValue", "averageValue": str(workers * SERVICE_MAX_IN_FLIGHT // 2)}
    # prometheus-adapter serves that metric per pod, from the series the router's PodMonitor scrapes.
    adapter = deployment.helm_releases()["prometheus-adapter"]["values"]
    (rule,) = adapter["rules"]["custom"]
    assert rule["seriesQuery"].startswith("switchboard_in_flight{") and rule["name"]["as"] == "switchboard_in_flight"
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"} and "by (<<.GroupBy>>)" in rule["metricsQuery"]
    assert adapter["rules"]["default"] is False  # the resource metrics API stays metrics-server's
    assert adapter["prometheus"]["url"] == "http://kube-prometheus-stack-prometheus.monitoring.svc"
    assert any(m["metadata"]["name"] == "switchboard-router" for m in deployment.k8s("PodMonitor"))


@pytest.mark.slow  # a deployment under Pulumi's mocks
def test_a_stack_can_name_its_own_in_flight_target_and_job_length() -> None:
    deployment = deploy("dev", {"switchboard:routerTargetInFlight": 40, "switchboard:workerJobVisibilityS": 7200})
    (hpa,) = deployment.k8s("HorizontalPodAutoscaler")
    (pods,) = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods["target"]["averageValue"] == "40"
    worker = router(deployment, "switchboard-worker")
    assert env(worker)["SWITCHBOARD_JOB_VISIBILITY_S"]["value"] == "7200"
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 7200


@pytest.mark.parametrize("stack", STACKS)
def test_a_stopping_worker_gets_as_long_as_a_job_may_run(deployments: dict[str, Deployment], stack: str) -> None:
    worker = router(deployments[stack], "switchboard-worker")
    visibility = int(env(worker)["SWITCHBOARD_JOB_VISIBILITY_S"]["value"])
    assert visibility == 3600
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > visibility


@pytest.mark.parametrize(("stack", "window"), [("dev", 0), ("prod", 7)])
def test_secrets_can_be_created_again_right_after_a_destroy(deployments: dict[str, Deployment], stack: str,
                                                            window: int) -> None:
    secrets = deployments[stack].of_type("aws:secretsmanager/secret:Secret")
    assert len(secrets) == 4
    for secret in secrets:
        # A fixed name collides with the deleted secret Secrets Manager keeps for the recovery window.
        assert "name" not in secret.inputs and secret.inputs["namePrefix"].startswith(f"switchboard/{stack}/")
        assert secret.inputs["recoveryWindowInDays"] == window


@pytest.mark.parametrize("stack", STACKS)
def test_prod_redis_keeps_snapshots_and_a_final_one(deployments: dict[str, Deployment], stack: str) -> None:
    groups = deployments[stack].of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    if stack == "dev":
        assert groups == []  # in-cluster Redis, nothing to keep
        return
    (group,) = groups
    assert group.inputs["snapshotRetentionLimit"] == 7 and group.inputs["snapshotWindow"]
    assert group.inputs["finalSnapshotIdentifier"].startswith("switchboard-prod-redis-final-")


@pytest.mark.parametrize(("stack", "days"), [("dev", 7), ("prod", 90)])
def test_every_switchboard_pods_lines_reach_cloudwatch_logs_with_retention(deployments: dict[str, Deployment],
                                                                           stack: str, days: int) -> None:
    deployment = deployments[stack]
    (group,) = deployment.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["retentionInDays"] == days and deployment.outputs["podLogGroup"] == group.inputs["name"]
    values = deployment.helm_releases()["otel-logs"]["values"]
    assert values["mode"] == "daemonset" and {"operator": "Exists"} in values["tolerations"]  # GPU nodes too
    assert values["presets"]["logsCollection"] == {"enabled": True, "storeCheckpoints": True}
    config = values["alternateConfig"]
    assert config["receivers"]["filelog"]["include"] == ["/var/log/pods/switchboard_*/*/*.log"]
    exporter = config["exporters"]["awscloudwatchlogs"]
    assert exporter["log_group_name"] == group.inputs["name"] and exporter["raw_log"] is True  # the JSON line as is
    assert config["service"]["pipelines"]["logs"]["exporters"] == ["awscloudwatchlogs"]


def alertmanager_config(deployment: Deployment) -> tuple[dict, bool]:
    (secret,) = [r for r in deployment.of_type("kubernetes:core/v1:Secret")
                 if r.inputs["metadata"]["name"] == "alertmanager-switchboard"]
    data = secret.inputs["stringData"]
    value = unwrap(data)["alertmanager.yaml"]
    is_secret = SECRET_SIGNATURE in data or (isinstance(value, dict) and SECRET_SIGNATURE in value)
    return yaml.safe_load(unwrap(value)), is_secret


@pytest.mark.parametrize("stack", STACKS)
def test_alertmanager_is_on_and_without_a_receiver_alerts_go_nowhere_but_show(deployments: dict[str, Deployment],
                                                                              stack: str) -> None:
    deployment = deployments[stack]
    values = deployment.helm_releases()["kube-prometheus-stack"]["values"]
    spec = values["alertmanager"]["alertmanagerSpec"]
    assert values["alertmanager"]["enabled"] is True
    assert spec["useExistingSecret"] is True and spec["configSecret"] == "alertmanager-switchboard"
    config, _ = alertmanager_config(deployment)
    assert config["route"]["receiver"] == "null" and config["receivers"] == [{"name": "null"}]


@pytest.mark.slow  # a deployment under Pulumi's mocks
def test_the_stacks_receiver_gets_the_alerts_and_stays_secret() -> None:
    url = "https://hooks.slack.com/services/T000/B000/test-secret-webhook"
    deployment = deploy("dev", secrets={"switchboard:alertReceiver": url})
    config, is_secret = alertmanager_config(deployment)
    assert is_secret
    assert config["route"]["receiver"] == "switchboard"
    (receiver,) = [r for r in config["receivers"] if r["name"] == "switchboard"]
    assert receiver["slack_configs"][0]["api_url"] == url
    assert not [r.name for r in deployment.resources if "test-secret-webhook" in in_the_clear(r.inputs)]


def in_the_clear(value: object) -> str:
    """Every input value that was not sent as a secret, as text."""
    if isinstance(value, dict):
        return "" if SECRET_SIGNATURE in value else " ".join(in_the_clear(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(in_the_clear(v) for v in value)
    return str(value)


@pytest.mark.parametrize(("url", "kind"), [("https://hooks.slack.com/services/x", "slack_configs"),
                                           ("pagerduty://0123456789abcdef", "pagerduty_configs"),
                                           ("https://alerts.example.org/hook", "webhook_configs")])
def test_each_receiver_kind(url: str, kind: str) -> None:
    receivers = alerting.alertmanager_config(url)["receivers"]
    (receiver,) = [r for r in receivers if r["name"] == "switchboard"]
    assert kind in receiver
    if kind == "pagerduty_configs":
        assert receiver[kind][0]["routing_key"] == "0123456789abcdef"


@pytest.mark.parametrize("url", ["http://hooks.slack.com/services/T0/B0/SECRETPART", "SECRETPART", "pagerduty://"])
def test_a_receiver_alertmanager_could_not_use_is_an_error_naming_the_key_not_the_value(url: str) -> None:
    with pytest.raises(StackConfigError, match="^alertReceiver: ") as raised:
        alerting.receiver_kind(url)
    assert "SECRETPART" not in str(raised.value)  # the value itself is secret


@pytest.mark.parametrize("stack", STACKS)
def test_switchboards_alert_rules_are_deployed_where_prometheus_selects_them(deployments: dict[str, Deployment],
                                                                           stack: str) -> None:
    deployment = deployments[stack]
    (rule,) = deployment.k8s("PrometheusRule")
    shipped = yaml.safe_load(alerting.RULES_FILE.read_text())["groups"]
    assert rule["spec"]["groups"] == json.loads(json.dumps(shipped))
    prometheus = deployment.helm_releases()["kube-prometheus-stack"]["values"]["prometheus"]["prometheusSpec"]
    # An empty ruleSelector that does not fall back to the release's labels selects every rule; the label keeps it
    # selected even if it did.
    assert prometheus["ruleSelectorNilUsesHelmValues"] is False and not prometheus.get("ruleSelector")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(r["annotations"]["runbook_url"] == f"{alerting.RUNBOOK_BASE}{r['alert']}.md"
                          for r in alerts)


@pytest.mark.slow  # a deployment under Pulumi's mocks
def test_runbook_links_follow_the_stacks_base_url() -> None:
    base = "https://runbooks.example.org/switchboard"
    deployment = deploy("dev", {"switchboard:runbookBaseUrl": base})
    (rule,) = deployment.k8s("PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(r["annotations"]["runbook_url"] == f"{base}/{r['alert']}.md" for r in alerts)


@pytest.mark.parametrize("stack", STACKS)
def test_karpenter_the_load_balancer_controller_and_the_gpus_are_scraped(deployments: dict[str, Deployment],
                                                                         stack: str) -> None:
    deployment = deployments[stack]
    monitors = {m["metadata"]["name"]: m["spec"] for m in deployment.k8s("PodMonitor")}
    for name, labels, port in (("karpenter", KARPENTER_LABELS, "http-metrics"),
                               ("aws-load-balancer-controller", LBC_LABELS, "metrics-server")):
        assert monitors[name]["namespaceSelector"] == {"matchNames": ["kube-system"]}
        assert monitors[name]["selector"]["matchLabels"] == labels  # the charts' selector labels
        assert monitors[name]["podMetricsEndpoints"][0]["port"] == port  # the charts' container port names
    dcgm = deployment.helm_releases()["dcgm-exporter"]["values"]
    assert dcgm["nodeSelector"] == {"switchboard.dev/pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in dcgm["tolerations"]
    assert dcgm["serviceMonitor"]["enabled"] is True
