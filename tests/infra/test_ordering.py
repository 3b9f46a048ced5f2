"""Blockers 3 and 4 of issue 20: admission webhooks against the order releases and objects are made in, and the
order `pulumi destroy` removes things in (the reverse of the dependencies the mocks record)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.infra.stack import HELM_RELEASE, Deployment

STACKS = ["dev", "prod"]


@dataclass(frozen=True)
class Webhook:
    """A webhook a chart installs (its templates at the pinned version), and what it intercepts."""

    name: str
    kinds: frozenset[str]  # what it intercepts on CREATE: Pod (so every pod-making workload), Service, ...
    failure_policy: str  # Fail: the create is refused while the webhook does not answer; Ignore: done without it
    namespace_labels: dict[str, str] = field(default_factory=dict)  # {} : every namespace
    enabled_by: str | None = None  # a values key that turns it off when false
    relied_on: bool = False  # Ignore, but what it adds matters (readiness gates): as good as Fail here


# aws-load-balancer-controller chart v3.5.0, templates/webhook.yaml; kube-prometheus-stack 88.5.3,
# templates/prometheus-operator/admission-webhooks/ (failurePolicy Ignore while patch.enabled, the default).
# Karpenter 1.14 (no webhooks since v1.1), prometheus-adapter 5.3.0 and the collector charts install none.
WEBHOOKS = {
    "aws-load-balancer-controller": [
        Webhook("mpod.elbv2.k8s.aws", frozenset({"Pod"}), "Ignore",
                {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}, relied_on=True),
        Webhook("quicid.elbv2.k8s.aws", frozenset({"Pod"}), "Fail",
                {"elbv2.k8s.aws/quic-server-id-inject": "enabled"}),
        Webhook("mservice.elbv2.k8s.aws", frozenset({"Service"}), "Fail", enabled_by="enableServiceMutatorWebhook"),
        Webhook("alb-target-control.namespace.elbv2.k8s.aws", frozenset({"Pod"}), "Fail",
                {"elbv2.k8s.aws/alb-target-control-agent-injection": "enabled"}),
    ],
    "kube-prometheus-stack": [
        Webhook("prometheusrulevalidate.monitoring.coreos.com", frozenset({"PrometheusRule"}), "Ignore",
                relied_on=True),
    ],
}
POD_MAKERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# What a chart's release creates: every chart here makes Services and pods; CRD-only charts make neither.
RELEASE_KINDS = {"karpenter-crd": frozenset(), "prometheus-operator-crds": frozenset()}


def namespaces(deployment: Deployment) -> dict[str, dict[str, str]]:
    found = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in deployment.k8s("Namespace")}
    return {"kube-system": {}, "default": {}, **found}


def creates(deployment: Deployment, resource: Any) -> tuple[str | None, frozenset[str]]:
    """(namespace, kinds intercepted on create) for a declared object or a release."""
    if resource.typ == HELM_RELEASE:
        chart = deployment.chart(resource.inputs)
        return resource.inputs["namespace"], RELEASE_KINDS.get(chart, frozenset({"Pod", "Service"}))
    kind = resource.typ.rsplit(":", 1)[-1]
    namespace = resource.inputs.get("metadata", {}).get("namespace")
    return namespace, frozenset({"Pod"} if kind in POD_MAKERS else {kind})


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_is_made_before_a_webhook_that_intercepts_it(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    labels = namespaces(deployment)
    problems, checked = [], 0
    for release in deployment.of_type(HELM_RELEASE):
        chart = deployment.chart(release.inputs)
        for hook in WEBHOOKS.get(chart, ()):
            if hook.enabled_by and (release.inputs.get("values") or {}).get(hook.enabled_by, True) is False:
                continue
            if hook.failure_policy != "Fail" and not hook.relied_on:
                continue
            for resource in deployment.resources:
                if resource is release or not (resource.typ.startswith("kubernetes:") and resource.custom):
                    continue
                namespace, kinds = creates(deployment, resource)
                if not kinds & hook.kinds or namespace is None:
                    continue
                if not all(labels.get(namespace, {}).get(k) == v for k, v in hook.namespace_labels.items()):
                    continue
                checked += 1
                if not deployment.depends_on(resource, release):
                    problems.append(f"{resource.typ} {resource.name} (in {namespace}) may be made before {chart} "
                                    f"serves {hook.name} ({hook.failure_policy})")
    assert checked >= 3 and problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_service_webhook_that_intercepts_every_service_is_off(deployments: dict[str, Deployment],
                                                                  stack: str) -> None:
    """With it on, every chart's Services would have to wait for the load balancer controller."""
    values = deployments[stack].helm_releases()["aws-load-balancer-controller"]["values"]
    assert values["enableServiceMutatorWebhook"] is False
    for service in deployments[stack].k8s("Service"):
        if service["spec"].get("type") == "LoadBalancer":
            assert service["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"  # what the webhook would add


# --- destroy: every controller outlives what it cleans up -------------------------------------------------------


def find(deployment: Deployment, typ: str, predicate: Any = lambda r: True) -> list[Any]:
    return [r for r in deployment.of_type(typ) if predicate(r)]


def iam_pieces(deployment: Deployment, component_suffix: str) -> list[Any]:
    (component,) = [r for r in deployment.resources
                    if r.typ == "switchboard:infra:IamRole" and r.name.endswith(component_suffix)]
    return deployment.descendants(component)


def release(deployment: Deployment, name: str) -> Any:
    (found,) = find(deployment, HELM_RELEASE, lambda r: r.inputs["name"] == name)
    return found


def cleaners(deployment: Deployment) -> list[tuple[str, list[Any], list[Any]]]:
    """(what is cleaned up, the things AWS bills for until it is, what must still run while it is)."""
    system_nodes = find(deployment, "aws:eks/nodeGroup:NodeGroup")
    load_balancers = [r for r in deployment.of_type("kubernetes:core/v1:Service")
                      if r.inputs["spec"].get("type") == "LoadBalancer"]
    node_pools = (deployment.of_type("kubernetes:karpenter.sh/v1:NodePool")
                  + deployment.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"))
    volumes = [r for r in deployment.of_type("kubernetes:apps/v1:StatefulSet")
               if r.inputs["spec"].get("volumeClaimTemplates")] + [release(deployment, "kube-prometheus-stack")]
    csi = find(deployment, "aws:eks/addon:Addon", lambda r: r.inputs["addonName"] == "aws-ebs-csi-driver")
    return [
        ("the NLB, its target groups and security groups", load_balancers,
         [release(deployment, "aws-load-balancer-controller"), *iam_pieces(deployment, "-lbc"), *system_nodes]),
        ("Karpenter's instances, launch templates and instance profiles", node_pools,
         [release(deployment, "karpenter"), *iam_pieces(deployment, "-karpenter-controller"),
          *iam_pieces(deployment, "-karpenter-node"), *find(deployment, "aws:eks/accessEntry:AccessEntry"),
          *system_nodes]),
        ("EBS volumes of volume claims", volumes, [*csi, *iam_pieces(deployment, "-ebs-csi"), *system_nodes]),
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_destroy_removes_what_a_controller_cleans_up_while_the_controller_still_runs(
    deployments: dict[str, Deployment], stack: str
) -> None:
    deployment = deployments[stack]
    problems = []
    for what, cleaned, controller in cleaners(deployment):
        assert cleaned and controller, what
        problems += [f"{c.typ} {c.name} ({what}) may outlive {p.typ} {p.name}" for c in cleaned for p in controller
                     if not deployment.depends_on(c, p)]
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_network_outlives_the_cluster_and_everything_in_it(deployments: dict[str, Deployment],
                                                               stack: str) -> None:
    """The VPC cannot go while an ENI, a node or a load balancer is in it: each goes first."""
    deployment = deployments[stack]
    (cluster,) = deployment.of_type("aws:eks/cluster:Cluster")
    subnets = deployment.of_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "private" in s.name]
    assert private and all(deployment.depends_on(cluster, s) for s in private)
    provider = next(r for r in deployment.resources if r.typ == "pulumi:providers:kubernetes")
    assert deployment.depends_on(provider, cluster)
    groups = deployment.of_type("aws:eks/nodeGroup:NodeGroup")
    assert all(deployment.depends_on(provider, g) for g in groups)  # every Kubernetes object goes before its nodes
