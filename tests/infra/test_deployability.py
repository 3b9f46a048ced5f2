"""Would `pulumi up` give a working service? Pulumi's mocks accept anything, so these tests read the declared
resources the way the cluster and AWS would: pods against the nodes they can land on, every class and annotation
against something installed that serves it, volumes against replicas, the edge against TLS and authentication.

Each check is written against what the program declares, not how: it holds for any program that is deployable in
the same way (managed node groups or Karpenter pools, an add-on or a chart), so it also fails, for the reason
named, on one that is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from infra import capacity
from infra.config import StackConfigError, load
from infra.routing_config import merge
from switchboard.config import default_config_data, parse_config
from tests.infra.stack import ZONES, Deployment, configure, deploy

STACKS = ["dev", "prod"]
MIB = capacity.MIB
GPU = "nvidia.com/gpu"
LBC = "aws-load-balancer-controller"
LBC_CLASS = "service.k8s.aws/nlb"
LB_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer"
REQUIRED_TAGS = {"project", "stack", "managed-by"}
EKS_UNSUPPORTED_ZONE_IDS = {"use1-az3", "usw1-az2", "cac1-az3"}  # AWS docs: EKS VPC and subnet requirements
# DaemonSets the EKS add-ons run on every node, at their published requests (aws-node with its network-policy agent,
# kube-proxy, the Pod Identity agent, ebs-csi-node's three containers).
EKS_ADDON_DAEMONSETS = capacity.Resources(cpu=0.025 + 0.1 + 0.025 + 0.03, memory=3 * 40 * MIB)
# Controllers the EKS add-ons run before any Karpenter node exists: they start on the system nodes.
EKS_ADDON_PODS = {"coredns": (2, capacity.Resources(0.1, 70 * MIB)),
                  "aws-ebs-csi-driver": (2, capacity.Resources(0.06, 240 * MIB)),
                  "metrics-server": (2, capacity.Resources(0.1, 200 * MIB))}
# Where each release this program installs takes its pods' replicas, requests and node selector from its values.
# A release not listed here fails the fit test: its pods could not be checked. (CRD-only charts run no pods.)
CHART_PODS: dict[str, list[tuple[str, str | int, str, str]]] = {
    "aws-load-balancer-controller": [("controller", "replicaCount", "resources", "nodeSelector")],
    "karpenter-crd": [],
    "karpenter": [("controller", "replicas", "controller.resources", "nodeSelector")],
    "prometheus-operator-crds": [],
    "kube-prometheus-stack": [
        ("prometheus", 1, "prometheus.prometheusSpec.resources", "prometheus.prometheusSpec.nodeSelector"),
        ("alertmanager", 1, "alertmanager.alertmanagerSpec.resources", "alertmanager.alertmanagerSpec.nodeSelector"),
        ("operator", 1, "prometheusOperator.resources", "prometheusOperator.nodeSelector"),
        ("kube-state-metrics", 1, "kube-state-metrics.resources", "kube-state-metrics.nodeSelector"),
        ("grafana", 1, "grafana.resources", "grafana.nodeSelector")],
    "prometheus-adapter": [("adapter", "replicas", "resources", "nodeSelector")],
    "otel-collector": [("collector", "replicaCount", "resources", "nodeSelector")],
    "otel-logs": [],
    "dcgm-exporter": [],
}
# DaemonSets: (pod, requests, tolerations, node selector) in the values.
CHART_DAEMONSETS = {
    "kube-prometheus-stack": [("node-exporter", "prometheus-node-exporter.resources",
                               "prometheus-node-exporter.tolerations", "prometheus-node-exporter.nodeSelector")],
    "otel-logs": [("log-agent", "resources", "tolerations", "nodeSelector")],
    "dcgm-exporter": [("dcgm-exporter", "resources", "tolerations", "nodeSelector")],
}
# Custom resource groups, and the chart that installs their definitions (and the one whose controller serves them).
CRD_CHARTS = {"karpenter.sh": ("karpenter-crd", "karpenter"), "karpenter.k8s.aws": ("karpenter-crd", "karpenter"),
              "monitoring.coreos.com": ("prometheus-operator-crds", "kube-prometheus-stack")}


def at(values: dict, path: str) -> Any:
    for part in path.split("."):
        values = values.get(part) if isinstance(values, dict) else None  # type: ignore[assignment]
    return values


@dataclass
class Pool:
    """Nodes one pod might land on: a managed node group or a Karpenter NodePool."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    instance_types: list[str]
    fixed_nodes: int | None  # a managed group's size, when it cannot change
    daemonsets: capacity.Resources = field(default_factory=capacity.Resources)


@dataclass
class Workload:
    name: str
    replicas: int
    pod: dict[str, Any]  # the pod spec (for charts: only nodeSelector and tolerations)
    requests: capacity.Resources
    daemon: bool = False


def node_pools(deployment: Deployment) -> list[Pool]:
    pools = []
    for group in deployment.of_type("aws:eks/nodeGroup:NodeGroup"):
        scaling = group.inputs["scalingConfig"]
        effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
        pools.append(Pool(
            group.name, dict(group.inputs.get("labels") or {}),
            [{**t, "effect": effects[t["effect"]]} for t in group.inputs.get("taints") or ()],
            list(group.inputs["instanceTypes"]),
            scaling["desiredSize"] if scaling["minSize"] == scaling["maxSize"] == scaling["desiredSize"] else None))
    for pool in deployment.k8s("NodePool"):
        template = pool["spec"]["template"]
        types = [v for r in template["spec"]["requirements"] if r["key"] == "node.kubernetes.io/instance-type"
                 for v in r["values"]]
        pools.append(Pool(pool["metadata"]["name"], dict(template.get("metadata", {}).get("labels", {})),
                          list(template["spec"].get("taints", [])), types, None))
    return pools


def pod_requests(pod: dict) -> capacity.Resources:
    total = capacity.Resources()
    for container in pod["containers"]:
        total = total + capacity.requests(container.get("resources"))
    return total


def workloads(deployment: Deployment) -> list[Workload]:
    found = []
    for obj in deployment.k8s_objects():
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            pod = obj["spec"]["template"]["spec"]
            found.append(Workload(f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"].get("replicas", 1), pod,
                                  pod_requests(pod), daemon=obj["kind"] == "DaemonSet"))
    for chart, values in deployment.helm_releases().items():
        values = values.get("values") or {}
        for pod_name, replicas, resources, selector in CHART_PODS.get(chart, []):
            count = replicas if isinstance(replicas, int) else at(values, replicas) or 1
            found.append(Workload(f"{chart}/{pod_name}", count, {"nodeSelector": at(values, selector) or {}},
                                  capacity.requests(at(values, resources))))
        for pod_name, resources, tolerations, selector in CHART_DAEMONSETS.get(chart, []):
            found.append(Workload(f"{chart}/{pod_name}", 1, {"tolerations": at(values, tolerations) or [],
                                                             "nodeSelector": at(values, selector) or {}},
                                  capacity.requests(at(values, resources)), daemon=True))
    return found


def tolerates(pod: dict, taint: dict) -> bool:
    for toleration in pod.get("tolerations") or ():
        if toleration.get("effect") not in (None, "", taint["effect"]):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", taint["key"]):
            return True
        if toleration.get("key") == taint["key"] and toleration.get("value") == taint.get("value"):
            return True
    return False


def schedulable(pod: dict, pool: Pool) -> bool:
    selector = pod.get("nodeSelector") or {}
    return (all(pool.labels.get(k) == v for k, v in selector.items())
            and all(tolerates(pod, t) for t in pool.taints if t["effect"] in ("NoSchedule", "NoExecute")))


def pools_with_daemonsets(deployment: Deployment) -> list[Pool]:
    pools, found = node_pools(deployment), workloads(deployment)
    for pool in pools:
        pool.daemonsets = EKS_ADDON_DAEMONSETS
        for daemon in (w for w in found if w.daemon and schedulable(w.pod, pool)):
            pool.daemonsets = pool.daemonsets + daemon.requests
    return pools


def room(pool: Pool, instance_type: str) -> capacity.Resources:
    return capacity.INSTANCE_TYPES[instance_type].allocatable() - pool.daemonsets


# --- pods fit their nodes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_fits_a_node_it_can_schedule_on(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    pools = pools_with_daemonsets(deployment)
    assert not set(deployment.helm_releases()) - set(CHART_PODS), "a chart whose pods this test cannot size"
    problems = []
    for workload in (w for w in workloads(deployment) if not w.daemon):
        candidates = [p for p in pools if schedulable(workload.pod, p)]
        if not candidates:
            problems.append(f"{workload.name}: no node pool it tolerates and selects")
            continue
        unknown = [t for p in candidates for t in p.instance_types if t not in capacity.INSTANCE_TYPES]
        assert not unknown, f"instance types without capacity data: {unknown}"
        if not any(workload.requests.fits_in(room(p, t)) for p in candidates for t in p.instance_types):
            best = max((room(p, t) for p in candidates for t in p.instance_types), key=lambda r: (r.gpus, r.cpu))
            problems.append(f"{workload.name} asks {workload.requests.describe()}; the largest node it may land "
                            f"on has {best.describe()} left: Pending forever")
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_system_nodes_hold_everything_pinned_to_them(deployments: dict[str, Deployment], stack: str) -> None:
    """Karpenter adds nodes only for its own pools: what selects the fixed group must fit there, all at once."""
    deployment = deployments[stack]
    for pool in (p for p in pools_with_daemonsets(deployment) if p.fixed_nodes):
        (instance_type,) = pool.instance_types
        pinned = [w for w in workloads(deployment) if not w.daemon and w.pod.get("nodeSelector")
                  and schedulable(w.pod, pool)]
        total = capacity.Resources()
        for workload in pinned:
            total = total + workload.requests * workload.replicas
        for replicas, requests in EKS_ADDON_PODS.values():
            total = total + requests * replicas
        assert total.fits_in(room(pool, instance_type) * pool.fixed_nodes), (
            f"{pool.name}: {total.describe()} pinned to {pool.fixed_nodes} x {instance_type}")


# --- every class and annotation is served by something the program installs ------------------------------------


def addons(deployment: Deployment) -> dict[str, dict]:
    return {a.inputs["addonName"]: a.inputs for a in deployment.of_type("aws:eks/addon:Addon")}


def identity_for(deployment: Deployment, namespace: str, service_account: str) -> bool:
    associations = deployment.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    return any(a.inputs["namespace"] == namespace and a.inputs["serviceAccount"] == service_account
               for a in associations)


def claims(deployment: Deployment) -> list[tuple[str, dict]]:
    """Every volume claim the program makes or makes a controller make: (where, claim spec)."""
    found = [(f"PersistentVolumeClaim/{c['metadata']['name']}", c["spec"])
             for c in deployment.k8s("PersistentVolumeClaim")]
    found += [(f"StatefulSet/{s['metadata']['name']}", t["spec"]) for s in deployment.k8s("StatefulSet")
              for t in s["spec"].get("volumeClaimTemplates", [])]
    for chart, release in deployment.helm_releases().items():
        storage = at(release.get("values") or {}, "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec")
        if storage:
            found.append((f"{chart}/prometheus", storage))
    return found


def load_balancer_services(deployment: Deployment) -> list[dict]:
    return [s for s in deployment.k8s("Service") if s["spec"].get("type") == "LoadBalancer"]


def served_by_lbc(service: dict) -> bool:
    annotations = service["metadata"].get("annotations", {})
    return (service["spec"].get("loadBalancerClass") == LBC_CLASS
            or annotations.get(f"{LB_ANNOTATION}-type") in ("external", "nlb-ip"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_class_and_annotation_is_served_by_something_installed(
    deployments: dict[str, Deployment], stack: str
) -> None:
    deployment = deployments[stack]
    releases, installed = deployment.helm_releases(), addons(deployment)
    problems = []

    for service in load_balancer_services(deployment):
        name = service["metadata"]["name"]
        if not served_by_lbc(service):
            problems.append(f"Service/{name}: no loadBalancerClass {LBC_CLASS}: left to the deprecated in-tree "
                            "controller")
        if LBC not in releases:
            problems.append(f"Service/{name}: asks for the AWS Load Balancer Controller, which is not installed")
        elif not (releases[LBC]["values"].get("clusterName")
                  and identity_for(deployment, releases[LBC]["namespace"], "aws-load-balancer-controller")):
            problems.append(f"Service/{name}: the load balancer controller has no cluster name or no AWS role")

    classes = {c["metadata"]["name"]: c for c in deployment.k8s("StorageClass")}
    default = [n for n, c in classes.items()
               if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    for where, claim in claims(deployment):
        name = claim.get("storageClassName") or (default[0] if default else None)
        if name is None:
            problems.append(f"{where}: no storage class, and none is the default (EKS has no default since 1.30)")
        elif name not in classes:
            problems.append(f"{where}: storage class '{name}' is not declared")
        elif classes[name]["provisioner"] == "ebs.csi.aws.com":
            driver = installed.get("aws-ebs-csi-driver")
            if not driver or not (driver.get("podIdentityAssociations") or driver.get("serviceAccountRoleArn")):
                problems.append(f"{where}: no EBS CSI driver (with an AWS role) serves class '{name}'")
            if classes[name].get("volumeBindingMode") != "WaitForFirstConsumer":
                problems.append(f"StorageClass/{name}: EBS is zonal; bind when the pod's node is known")

    if deployment.k8s("NetworkPolicy"):
        cni = json.loads(installed.get("vpc-cni", {}).get("configurationValues") or "{}")
        if cni.get("enableNetworkPolicy") != "true":
            problems.append("NetworkPolicy: stored but not enforced (the VPC CNI's network-policy mode is off)")

    if deployment.k8s("HorizontalPodAutoscaler") and not ("metrics-server" in installed or "metrics-server" in
                                                          releases):
        problems.append("HorizontalPodAutoscaler: no metrics-server, so no CPU metrics to scale on")

    if deployment.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") and \
            "eks-pod-identity-agent" not in installed:
        problems.append("PodIdentityAssociation: no eks-pod-identity-agent add-on hands out the roles")

    pools = node_pools(deployment)
    plugins = [w for w in workloads(deployment)
               if w.daemon and any("k8s-device-plugin" in c["image"] for c in w.pod.get("containers", []))]
    for workload in (w for w in workloads(deployment) if w.requests.gpus):
        for pool in (p for p in pools if schedulable(workload.pod, p)):
            if not any(schedulable(plugin.pod, pool) for plugin in plugins):
                problems.append(f"{workload.name}: asks for {GPU} on pool {pool.name}, where no device plugin runs")

    for obj in deployment.k8s_objects():
        group = obj["apiVersion"].rpartition("/")[0]
        for chart in CRD_CHARTS.get(group, ()):
            resource = next(r for r in deployment.resources if r.typ == f"kubernetes:{obj['apiVersion']}:{obj['kind']}"
                            and r.inputs["metadata"]["name"] == obj["metadata"]["name"])
            release = next((r for r in deployment.of_type("kubernetes:helm.sh/v3:Release")
                            if deployment.chart(r.inputs) == chart), None)
            if release is None:
                problems.append(f"{obj['kind']}/{obj['metadata']['name']}: its chart {chart} is not installed")
            elif not deployment.depends_on(resource, release):
                problems.append(f"{obj['kind']}/{obj['metadata']['name']}: made before {chart} is installed")

    for dashboard in (c for c in deployment.k8s("ConfigMap")
                      if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"):
        grafana = [r for r in releases.values() if at(r.get("values") or {}, "grafana.sidecar.dashboards.enabled")
                   and at(r["values"], "grafana.enabled") is not False
                   and (r["namespace"] == dashboard["metadata"]["namespace"]
                        or at(r["values"], "grafana.sidecar.dashboards.searchNamespace") == "ALL")]
        if not grafana:
            problems.append(f"ConfigMap/{dashboard['metadata']['name']}: a dashboard no Grafana picks up")

    karpenter_pools = {p["metadata"]["name"] for p in deployment.k8s("NodePool")}
    for pool in pools:
        if pool.fixed_nodes is None and pool.name not in karpenter_pools and "cluster-autoscaler" not in releases:
            problems.append(f"node group {pool.name}: sized to scale, but no autoscaler changes its size")
    assert problems == []


# --- volumes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_read_write_once_volume_is_shared_by_replicas(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    read_write_once = {c["metadata"]["name"] for c in deployment.k8s("PersistentVolumeClaim")
                       if "ReadWriteOnce" in c["spec"]["accessModes"]}
    autoscaled = {h["spec"]["scaleTargetRef"]["name"] for h in deployment.k8s("HorizontalPodAutoscaler")}
    problems = []
    for obj in deployment.k8s("Deployment") + deployment.k8s("StatefulSet"):
        name = obj["metadata"]["name"]
        shared = [v["persistentVolumeClaim"]["claimName"] for v in obj["spec"]["template"]["spec"].get("volumes", [])
                  if v.get("persistentVolumeClaim", {}).get("claimName") in read_write_once]
        surges = obj["kind"] == "Deployment" and obj["spec"].get("strategy", {}).get("type") != "Recreate"
        if shared and (obj["spec"].get("replicas", 1) > 1 or name in autoscaled or surges):
            problems.append(f"{obj['kind']}/{name}: ReadWriteOnce {shared} across pods on different nodes")
    assert problems == []


# --- tags ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_is_tagged(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    tagged = {deployment.urn(p) for p in deployment.of_type("pulumi:providers:aws")
              if REQUIRED_TAGS <= set(json.loads(p.inputs.get("defaultTags") or "{}").get("tags", {})
                                      if isinstance(p.inputs.get("defaultTags"), str)
                                      else (p.inputs.get("defaultTags") or {}).get("tags", {}))}
    untagged = [f"{r.typ} {r.name}" for r in deployment.resources
                if r.typ.startswith("aws:") and (r.provider or "").rsplit("::", 1)[0] not in tagged]
    assert untagged == []
    # What the controllers create carries the tags too: nodes, load balancers, volumes.
    for node_class in deployment.k8s("EC2NodeClass"):
        assert REQUIRED_TAGS <= set(node_class["spec"]["tags"])
    if load_balancer_services(deployment):
        assert REQUIRED_TAGS <= set(deployment.helm_releases()[LBC]["values"]["defaultTags"])
    for storage_class in deployment.k8s("StorageClass"):
        tags = {v.split("=", 1)[0] for k, v in storage_class.get("parameters", {}).items()
                if k.startswith("tagSpecification_")}
        assert REQUIRED_TAGS <= tags


# --- the edge ------------------------------------------------------------------------------------------------------


def pods_behind(deployment: Deployment, service: dict) -> list[dict]:
    selector = service["spec"].get("selector", {})
    return [d["spec"]["template"]["spec"] for d in deployment.k8s("Deployment")
            if selector and all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())]


def edge_problems(deployment: Deployment) -> list[str]:
    problems = []
    for service in load_balancer_services(deployment):
        name, annotations = service["metadata"]["name"], service["metadata"].get("annotations", {})
        # The load balancer controller's default scheme is internal; the in-tree controller's is internet-facing.
        scheme = annotations.get(f"{LB_ANNOTATION}-scheme", "internal" if served_by_lbc(service) else
                                 "internet-facing")
        pods = pods_behind(deployment, service)
        if not pods or not all(any(e["name"] == "SWITCHBOARD_ADMIN_KEY_SECRET_ARN" for c in pod["containers"]
                                   for e in c.get("env", [])) for pod in pods):
            problems.append(f"Service/{name}: its pods have no admin key, so authentication is off")
        if scheme == "internet-facing":
            tls_ports = annotations.get(f"{LB_ANNOTATION}-ssl-ports", "")
            if not annotations.get(f"{LB_ANNOTATION}-ssl-cert"):
                problems.append(f"Service/{name}: internet-facing without a TLS certificate")
            for port in service["spec"]["ports"]:
                if tls_ports != "*" and port.get("name") not in tls_ports.split(",") and \
                        str(port["port"]) not in tls_ports.split(","):
                    problems.append(f"Service/{name}: port {port['port']} is public and unencrypted")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_the_router_is_not_public_without_tls_and_authentication(deployments: dict[str, Deployment],
                                                                  stack: str) -> None:
    assert load_balancer_services(deployments[stack])
    assert edge_problems(deployments[stack]) == []


CERTIFICATE = "arn:aws:acm:us-east-1:210987654321:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.mark.slow
def test_a_public_router_terminates_tls_at_the_load_balancer_for_the_named_sources() -> None:
    deployment = deploy("prod", {"switchboard:routerExposure": "public", "switchboard:routerCertificateArn":
                                 CERTIFICATE, "switchboard:routerSourceRanges": ["52.94.76.0/22"]})
    assert edge_problems(deployment) == []
    (service,) = load_balancer_services(deployment)
    annotations = service["metadata"]["annotations"]
    assert annotations[f"{LB_ANNOTATION}-scheme"] == "internet-facing"
    assert annotations[f"{LB_ANNOTATION}-ssl-cert"] == CERTIFICATE
    assert [p["port"] for p in service["spec"]["ports"]] == [443]
    assert service["spec"]["loadBalancerSourceRanges"] == ["52.94.76.0/22"]
    assert deployment.outputs["routerEndpoint"] == "https://switchboard-123.elb.amazonaws.com"


def test_a_public_router_without_a_certificate_fails_at_preview_naming_the_key() -> None:
    mocks, _ = configure("prod", {"switchboard:routerExposure": "public"})
    with pytest.raises(StackConfigError, match=r"^routerCertificateArn: required when routerExposure is public"):
        load()
    assert mocks.resources == []


# --- no GPUs: no GPU workload and no local target ----------------------------------------------------------------


def chain_targets(value: Any) -> list[str]:
    """Every `provider:model` string anywhere in a config (outside `providers`)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() if k != "providers" for t in chain_targets(v)]
    if isinstance(value, list):
        return [t for item in value for t in chain_targets(item)]
    return [value] if isinstance(value, str) and ":" in value and " " not in value else []


def test_without_gpus_there_is_no_gpu_workload_and_no_local_target(without_gpus: Deployment) -> None:
    for workload in workloads(without_gpus):
        assert not workload.requests.gpus, workload.name
        assert not any(t.get("key") == GPU for t in workload.pod.get("tolerations") or ()), workload.name
    assert not [p for p in node_pools(without_gpus) if p.taints or p.name == "gpu"]
    assert without_gpus.outputs["vllmUrl"] is None
    (config_map,) = without_gpus.k8s("ConfigMap", "switchboard-config")
    effective = merge(default_config_data(), yaml.safe_load(config_map["data"]["switchboard.yaml"]))
    assert "local" not in effective["providers"]
    targets = chain_targets(effective)
    assert targets and not [t for t in targets if t.startswith("local:")]
    assert not [t for chain in without_gpus.outputs["failoverChains"].values() for t in chain
                if t.startswith("local")]
    (router,) = without_gpus.k8s("Deployment", "switchboard-router")
    assert "VLLM_API_KEY" not in {e["name"] for e in router["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_without_gpus_a_chain_left_empty_is_an_error_naming_its_key() -> None:
    mocks, _ = configure("dev", {"switchboard:gpuEnabled": False, "switchboard:defaultRoute": ["local"]})
    with pytest.raises(StackConfigError, match=r"^defaultRoute: no target is left"):
        load()
    assert mocks.resources == []


# --- observability -------------------------------------------------------------------------------------------------


def router_container(deployment: Deployment, name: str = "switchboard-router") -> dict:
    (workload,) = deployment.k8s("Deployment", name)
    return workload["spec"]["template"]["spec"]["containers"][0]


def scraped_ports(deployment: Deployment, labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(e["port"], e.get("path", "/metrics")) for m in deployment.k8s("PodMonitor")
            if all(labels.get(k) == v for k, v in m["spec"]["selector"]["matchLabels"].items())
            for e in m["spec"]["podMetricsEndpoints"]]


@pytest.mark.parametrize("stack", STACKS)
def test_metrics_are_scraped_on_their_own_port_and_never_exposed(deployments: dict[str, Deployment],
                                                                   stack: str) -> None:
    deployment = deployments[stack]
    container = router_container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert ports.get("metrics") == 9090 and container["args"][-2:] == ["--metrics-port", "9090"]
    (router,) = deployment.k8s("Deployment", "switchboard-router")
    assert ("metrics", "/metrics") in scraped_ports(deployment, router["spec"]["template"]["metadata"]["labels"])
    assert "kube-prometheus-stack" in deployment.helm_releases()
    for service in deployment.k8s("Service"):
        for port in service["spec"]["ports"]:
            assert port.get("targetPort") != "metrics" and port["port"] != 9090, service["metadata"]["name"]
    (policy,) = deployment.k8s("NetworkPolicy", "switchboard")
    metrics_rules = [r for r in policy["spec"]["ingress"] if {"port": 9090} in r.get("ports", [])]
    assert metrics_rules and all(r.get("from") for r in metrics_rules)  # never from anywhere
    for vllm in deployment.k8s("StatefulSet", "vllm"):
        assert ("http", "/metrics") in scraped_ports(deployment, vllm["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("stack", STACKS)
def test_traces_go_to_a_collector_the_program_runs(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    collectors = {f"{r['values'].get('fullnameOverride', r['name'])}.{r['namespace']}": r
                  for r in deployment.helm_releases().values() if deployment.chart(r) == "opentelemetry-collector"
                  and r["values"]["mode"] == "deployment"}
    for name in ("switchboard-router", "switchboard-worker"):
        env = {e["name"]: e.get("value") for e in router_container(deployment, name)["env"]}
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""
        host = endpoint.split("//", 1)[-1].split(".svc", 1)[0]
        assert host in collectors and endpoint.endswith(":4318"), (name, endpoint)
        assert env["OTEL_SERVICE_NAME"] == name and env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert 0 <= float(env["OTEL_TRACES_SAMPLER_ARG"]) <= 1
    (collector,) = collectors.values()
    exporters = collector["values"]["alternateConfig"]["service"]["pipelines"]["traces"]["exporters"]
    assert exporters == ["awsxray"] and identity_for(deployment, collector["namespace"],
                                                     collector["values"]["serviceAccount"]["name"])


# --- graceful restarts ---------------------------------------------------------------------------------------------


def drain(deployment: Deployment) -> tuple[int, float, int]:
    (router,) = deployment.k8s("Deployment", "switchboard-router")
    pod = router["spec"]["template"]["spec"]
    (config_map,) = deployment.k8s("ConfigMap", "switchboard-config")
    grace = parse_config(yaml.safe_load(config_map["data"]["switchboard.yaml"]), "test").server.shutdown_grace_s
    pre_stop = pod["containers"][0].get("lifecycle", {}).get("preStop")
    assert pre_stop, "no preStop: the load balancer still sends to a pod that has stopped accepting"
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1]), grace, pod["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_router_drains_before_it_is_killed(deployments: dict[str, Deployment], stack: str) -> None:
    pre_stop, grace, termination = drain(deployments[stack])
    assert pre_stop >= 5 and termination > pre_stop + grace


@pytest.mark.slow
def test_the_termination_grace_follows_the_services_shutdown_grace() -> None:
    deployment = deploy("dev", {"switchboard:routerShutdownGraceS": 90})
    pre_stop, grace, termination = drain(deployment)
    assert grace == 90 and termination > pre_stop + 90
    (config_map,) = deployment.k8s("ConfigMap", "switchboard-config")
    assert yaml.safe_load(config_map["data"]["switchboard.yaml"])["server"]["shutdown_grace_s"] == 90


# --- vLLM can start ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_vllm_can_start_and_only_switchboard_can_call_it(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    (vllm,) = [r for r in deployment.resources if r.typ in ("kubernetes:apps/v1:StatefulSet",
                                                            "kubernetes:apps/v1:Deployment")
               and r.inputs["metadata"]["name"] == "vllm"]
    pod = vllm.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    # A UID without a passwd entry: getpass.getuser() (PyTorch) needs USER or LOGNAME; HOME must be writable.
    assert {"USER", "LOGNAME"} & set(env) and "HOME" in env
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["HOME"]["value"] in mounts
    # The key the router sends is the one vLLM checks.
    (router_key,) = [e for e in router_container(deployment)["env"] if e["name"] == "VLLM_API_KEY"]
    assert env["VLLM_API_KEY"]["valueFrom"] == router_key["valueFrom"]
    # Pulumi waits for a node, a ~10 GB image and the whole startup budget, not its default ten minutes.
    startup = container["startupProbe"]
    budget_s = startup["periodSeconds"] * startup["failureThreshold"] + 13 * 60
    timeouts = deployment.registration(vllm).custom_timeouts
    assert "create" in timeouts and int(timeouts["create"].rstrip("m")) * 60 >= budget_s


# --- Redis ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_redis_needs_a_password_and_reaches_the_pods_as_a_secret(deployments: dict[str, Deployment],
                                                                 stack: str) -> None:
    deployment = deployments[stack]
    for group in deployment.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        assert group.inputs.get("authToken") and group.inputs["transitEncryptionEnabled"] is True
    for security_group in deployment.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in security_group.inputs.get("ingress", []):
            assert not rule.get("cidrBlocks") and rule.get("securityGroups"), "open to a whole network"
    for redis in deployment.k8s("Deployment", "redis"):
        (container,) = redis["spec"]["template"]["spec"]["containers"]
        args = " ".join(container.get("args", []))
        assert "--protected-mode no" not in args
        config_volumes = [v for v in redis["spec"]["template"]["spec"]["volumes"] if v.get("secret")]
        assert "--requirepass" in args or (args.endswith(".conf") and config_volumes)
    for name in ("switchboard-router", "switchboard-worker"):
        env = {e["name"]: e for e in router_container(deployment, name)["env"]}
        assert "secretKeyRef" in env["REDIS_URL"].get("valueFrom", {}), "a password in a plain value"


# --- the network ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_and_its_nodes_are_private_in_zones_eks_supports(deployments: dict[str, Deployment],
                                                                     stack: str) -> None:
    deployment = deployments[stack]
    subnets = {f"{s.name}-id": s.inputs for s in deployment.of_type("aws:ec2/subnet:Subnet")}
    tables = {f"{t.name}-id": t.inputs for t in deployment.of_type("aws:ec2/routeTable:RouteTable")}
    table_of = {a.inputs["subnetId"]: tables[a.inputs["routeTableId"]]
                for a in deployment.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")}
    zone_ids = dict(ZONES)

    def private(subnet_id: str) -> bool:
        routes = table_of.get(subnet_id, {}).get("routes", [])
        return (subnet_id in subnets and not subnets[subnet_id].get("mapPublicIpOnLaunch")
                and any(r.get("natGatewayId") for r in routes) and not any(r.get("gatewayId") for r in routes))

    (cluster,) = deployment.of_type("aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    for subnet_id in vpc["subnetIds"] + [s for g in deployment.of_type("aws:eks/nodeGroup:NodeGroup")
                                         for s in g.inputs["subnetIds"]]:
        assert private(subnet_id), f"{subnet_id}: not a private subnet of this stack"
        assert zone_ids[subnets[subnet_id]["availabilityZone"]] not in EKS_UNSUPPORTED_ZONE_IDS
    assert vpc.get("endpointPublicAccess") is False or "0.0.0.0/0" not in vpc.get("publicAccessCidrs", ["0.0.0.0/0"])
    for node_class in deployment.k8s("EC2NodeClass"):  # Karpenter's nodes: the same private subnets
        (term,) = node_class["spec"]["subnetSelectorTerms"]
        tagged = [i for i, s in subnets.items() if all(s.get("tags", {}).get(k) == v for k, v in term["tags"].items())]
        assert tagged and all(private(i) for i in tagged)


@pytest.mark.slow
def test_chains_the_stack_does_not_set_keep_only_its_providers() -> None:
    """Routes, tiers, pipeline steps and embedding routes of the service's defaults lose dropped providers."""
    deployment = deploy("dev", {"switchboard:gpuEnabled": False, "switchboard:providers": ["openai", "anthropic"],
                                "switchboard:routes": {"creative_writing": ["anthropic:claude-haiku-4-5"]},
                                "switchboard:defaultRoute": ["openai:gpt-5.4-mini"]})
    (config_map,) = deployment.k8s("ConfigMap", "switchboard-config")
    overlay = yaml.safe_load(config_map["data"]["switchboard.yaml"])
    assert overlay["providers"] == {"cohere": None, "local": None}
    effective = merge(default_config_data(), overlay)
    providers = {t.split(":", 1)[0] for t in chain_targets(effective)}
    assert providers <= {"openai", "anthropic"}
    parse_config(overlay, "test")  # what the router will load


@pytest.mark.parametrize("stack", STACKS)
def test_what_registers_with_the_cluster_waits_for_it(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    (cluster,) = deployment.of_type("aws:eks/cluster:Cluster")
    early = [f"{r.typ} {r.name}" for r in deployment.resources
             if r.typ.startswith("aws:eks/") and "clusterName" in r.inputs and not deployment.depends_on(r, cluster)]
    assert early == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_minimum_router_and_workers_fit_the_system_nodes_as_the_cost_table_assumes(
    deployments: dict[str, Deployment], stack: str
) -> None:
    """The README's per-hour cost counts only the system nodes for the router and workers at their minimum: with
    the controllers and the add-ons, they must fit there (Karpenter's general nodes are for scaling past it)."""
    deployment = deployments[stack]
    for pool in (p for p in pools_with_daemonsets(deployment) if p.fixed_nodes):
        (instance_type,) = pool.instance_types
        total = capacity.Resources()
        for workload in workloads(deployment):
            ours = workload.name in ("Deployment/switchboard-router", "Deployment/switchboard-worker")
            if not workload.daemon and (ours or workload.pod.get("nodeSelector")) and schedulable(workload.pod, pool):
                total = total + workload.requests * workload.replicas
        for replicas, requests in EKS_ADDON_PODS.values():
            total = total + requests * replicas
        assert total.fits_in(room(pool, instance_type) * pool.fixed_nodes), total.describe()
