"""Blocker 7 of issue 20: every pinned version is inside its support (or review) date, and what the program
installs is exactly what `infra/versions.py` pins. A pin past its date fails here, on the day it lapses."""

from __future__ import annotations

import datetime

import pytest

from infra import versions
from infra.components.gpu_pool import DEVICE_PLUGIN_IMAGE
from infra.components.shared_state import REDIS_IMAGE
from tests.infra.stack import ROOT, Deployment, deploy

STACKS = ["dev", "prod"]
TODAY = datetime.date.today()


@pytest.mark.parametrize("pin", versions.PINS, ids=lambda p: p.name)
def test_no_pinned_version_is_past_the_date_beside_it(pin: versions.Pin) -> None:
    assert pin.kind in ("support", "review") and pin.source
    lapsed = "support ended" if pin.kind == "support" else "due for review"
    assert TODAY <= pin.until, f"{pin.name} {pin.version}: {lapsed} on {pin.until} ({pin.source})"


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_runs_the_pinned_version_in_standard_support_and_in_karpenters_range(
    deployments: dict[str, Deployment], stack: str
) -> None:
    (cluster,) = deployments[stack].of_type("aws:eks/cluster:Cluster")
    version = cluster.inputs["version"]
    assert version == versions.KUBERNETES.version
    assert TODAY <= versions.EKS_STANDARD_SUPPORT[version]
    low, high = (versions.version_tuple(v) for v in versions.KARPENTER_KUBERNETES)
    assert low <= versions.version_tuple(version) <= high
    # Past standard support EKS upgrades the cluster instead of billing extended support.
    assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}


CHART_PINS = {
    "karpenter": versions.KARPENTER, "karpenter-crd": versions.KARPENTER,
    "aws-load-balancer-controller": versions.LOAD_BALANCER_CONTROLLER,
    "kube-prometheus-stack": versions.PROMETHEUS_STACK, "prometheus-operator-crds": versions.PROMETHEUS_CRDS,
    "prometheus-adapter": versions.PROMETHEUS_ADAPTER, "opentelemetry-collector": versions.COLLECTOR,
    "dcgm-exporter": versions.DCGM_EXPORTER,
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_installed_is_the_pinned_version(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    releases = deployment.helm_releases().values()
    assert releases
    for release in releases:
        chart = deployment.chart(release)
        assert chart in CHART_PINS, f"{chart}: not pinned in infra/versions.py"
        assert release["version"] == CHART_PINS[chart].version, chart


def test_the_images_the_program_names_are_the_pinned_ones() -> None:
    assert f":{versions.DEVICE_PLUGIN.version}@sha256:" in DEVICE_PLUGIN_IMAGE
    assert REDIS_IMAGE.startswith(f"redis:{versions.REDIS.version}-alpine@sha256:")
    # CVE-2025-49844 was fixed in 7.4.6; 7.4.9 fixes the May 2026 advisories.
    assert versions.version_tuple(versions.REDIS.version) >= (7, 4, 9)


@pytest.mark.slow  # real time: waits, timers or deployments
def test_a_vllm_image_at_the_minimum_is_accepted_and_below_it_is_not() -> None:
    digest = "1" * 63 + "2"
    deployment = deploy("dev", {"switchboard:vllmImage": f"vllm/vllm-openai:v{versions.VLLM_MINIMUM.version}"
                                                         f"@sha256:{digest}"})
    (vllm,) = deployment.k8s("StatefulSet", "vllm")
    assert vllm["spec"]["template"]["spec"]["containers"][0]["image"].endswith(digest)
    assert versions.version_tuple("v0.32.9") < versions.version_tuple(versions.VLLM_MINIMUM.version)


@pytest.mark.parametrize("stack", STACKS)
def test_elasticache_runs_the_pinned_engine(deployments: dict[str, Deployment], stack: str) -> None:
    for group in deployments[stack].of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        assert group.inputs["engineVersion"] == versions.ELASTICACHE_REDIS.version


@pytest.mark.parametrize("stack", STACKS)
def test_crds_come_only_from_the_charts_helm_upgrades_them_from(deployments: dict[str, Deployment], stack: str) -> None:
    """A chart's crds/ folder is installed once and never upgraded: the CRD charts own them, the others skip theirs."""
    releases = deployments[stack].helm_releases()
    for name in ("karpenter", "kube-prometheus-stack"):
        assert releases[name]["skipCrds"] is True, name
    assert releases["kube-prometheus-stack"]["values"]["crds"] == {"enabled": False}
    assert {"karpenter-crd", "prometheus-operator-crds"} <= set(releases)


def test_the_docs_state_the_pins_and_the_cost_tables_support_premise() -> None:
    """The cost table assumes standard support: it names the version and the date that premise holds until."""
    readme = (ROOT / "README.md").read_text()
    deploy_section = " ".join(readme[readme.index("## Deploy to AWS with Pulumi"):
                                     readme.index("## Design notes")].split())
    kubernetes = versions.KUBERNETES
    assert f"Kubernetes {kubernetes.version} is until {kubernetes.until}" in deploy_section
    assert "$0.10/h" in deploy_section and "$0.60/h" in deploy_section
    guide = (ROOT / "docs" / "deploy.md").read_text()
    table = guide[guide.index("## Pinned versions"):]
    for pin in versions.PINS:
        assert pin.version in table and str(pin.until) in table, pin.name
