"""Every declared Kubernetes object validates against the schema of the version it targets (the cluster's
Kubernetes version for built-in kinds; the pinned charts' CRDs for custom resources), and passes checkov."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from infra import versions
from tests.infra import crd_cel, crd_schema
from tests.infra.stack import Deployment

KUBERNETES_VERSION = f"{versions.KUBERNETES.version}.0"  # the clusters' version (kubernetesVersion)
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}


def builtin(obj: dict) -> bool:
    """Kinds the Kubernetes schemas know (custom resources are checked by the deployability tests)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return group in BUILTIN_GROUPS or group.endswith(".k8s.io")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_object_validates_against_the_kubernetes_schema(deployments: dict[str, Deployment], stack) -> None:
    objects = deployments[stack].k8s_objects()
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "StatefulSet", "DaemonSet", "Service", "ConfigMap", "Secret", "NetworkPolicy",
            "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount", "StorageClass", "Namespace",
            "NodePool", "EC2NodeClass", "PodMonitor"} <= kinds
    assert objects  # and a version the schemas exist for: validate() raises SchemaNotFoundError otherwise
    for obj in filter(builtin, objects):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_custom_resource_validates_against_the_pinned_charts_crd(deployments: dict[str, Deployment],
                                                                        stack: str) -> None:
    custom = [obj for obj in deployments[stack].k8s_objects() if not builtin(obj)]
    assert {obj["kind"] for obj in custom} == {"NodePool", "EC2NodeClass", "PodMonitor", "PrometheusRule"}
    rules = {}
    for obj in custom:
        doc = crd_schema.validate(obj)
        violations, rules[obj["kind"]] = crd_cel.evaluate(doc["schema"], obj)
        assert violations == [], (obj["kind"], obj["metadata"]["name"])
    assert rules["NodePool"] > 15 and rules["EC2NodeClass"] > 25  # Karpenter's CEL rules did run


def test_the_crd_validation_refuses_what_the_api_server_would() -> None:
    pool = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "p"}, "spec": {
        "template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "c"},
                              "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In",
                                                "values": ["spot"]}]}},
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"}}}
    crd_schema.validate(pool)
    misspelt = {**pool, "spec": {**pool["spec"], "disruptions": {}}}
    bad_policy = {**pool, "spec": {**pool["spec"], "disruption": {"consolidationPolicy": "Never"}}}
    for broken in (misspelt, bad_policy):
        with pytest.raises(jsonschema.ValidationError):
            crd_schema.validate(broken)
    # A CEL rule: a NodePool may not constrain nodes by hostname.
    by_host = {**pool, "spec": {**pool["spec"], "template": {"spec": {
        **pool["spec"]["template"]["spec"],
        "requirements": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["a"]}]}}}}
    crd_schema.validate(by_host)  # structurally fine
    violations, _ = crd_cel.evaluate(crd_schema.validate(by_host)["schema"], by_host)
    assert [v.path for v in violations] == [".spec.template.spec.requirements[0].key"]


def without_skips(obj: dict) -> dict:
    annotations = {k: v for k, v in obj["metadata"].get("annotations", {}).items() if not k.startswith("checkov.io/")}
    return {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}


def run_checkov(deployments: dict[str, Deployment], folder: Path, strip_skips: bool = False) -> list[dict]:
    for stack, deployment in deployments.items():
        for index, obj in enumerate(deployment.k8s_objects()):
            obj = without_skips(obj) if strip_skips else obj
            (folder / f"{stack}-{index:03d}-{obj['kind'].lower()}.yaml").write_text(yaml.safe_dump(obj))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("checkov")), "--directory", str(folder), "--framework", "kubernetes",
         "--output", "json", "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return [r for r in reports if r.get("check_type") == "kubernetes"]


@pytest.fixture(scope="module")
def checkov_report(deployments: dict[str, Deployment], tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return run_checkov(deployments, tmp_path_factory.mktemp("manifests"))


@pytest.mark.slow
def test_checkov_finds_nothing_and_every_skip_says_why(checkov_report: list[dict]) -> None:
    reports = checkov_report
    assert reports, "checkov scanned no Kubernetes objects"
    results = [r["results"] for r in reports]
    failed = [(c["check_id"], c["resource"], c["check_name"]) for r in results for c in r["failed_checks"]]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 100
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 0
    skipped = [c for r in results for c in r["skipped_checks"]]
    assert skipped
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "").strip()) > 10, check["check_id"]


@pytest.mark.slow
def test_every_checkov_skip_hides_a_real_finding(deployments: dict[str, Deployment], checkov_report: list[dict],
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """A skip that suppresses nothing is noise (or a claim about the scanner that is not true): drop it."""
    skipped = {(c["check_id"], c["resource"]) for r in checkov_report for c in r["results"]["skipped_checks"]}
    bare = run_checkov(deployments, tmp_path_factory.mktemp("bare"), strip_skips=True)
    failed = {(c["check_id"], c["resource"]) for r in bare for c in r["results"]["failed_checks"]}
    assert sorted(skipped - failed) == [], sorted(skipped - failed)
