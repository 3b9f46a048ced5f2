"""Blocker 1 and 6 of issue 20: the stacks load as Pulumi loads them, and placeholders stop the preview, naming
the key.

`Pulumi.yaml` is checked against Pulumi's own project schema and its config declarations are applied to each
stack file the way the CLI applies them (tests/infra/pulumi_project.py), before the program is ever run."""

from __future__ import annotations

import re

import pytest
import yaml

from infra.config import StackConfigError, load
from tests.infra import pulumi_project
from tests.infra.pulumi_project import PulumiConfigError
from tests.infra.stack import OPERATOR_SETTINGS, PROJECT, ROOT, configure, deploy, stack_file

STACKS = ["dev", "prod"]
PROJECT_FILE = ROOT / "Pulumi.yaml"


def project() -> dict:
    return pulumi_project.load_project(PROJECT_FILE)


def test_the_project_file_is_valid_for_pulumi_and_declares_every_key_with_a_default() -> None:
    declared = project()["config"]
    assert len(declared) > 40
    undefaulted = [key for key, spec in declared.items() if "default" not in spec and "value" not in spec]
    assert undefaulted == []  # a key without a default is "missing" in every stack that omits it
    assert all("type" in spec for spec in declared.values())


@pytest.mark.parametrize("declaration", [
    "config:\n  ratio: {type: number, default: 0.1}\n",  # Pulumi has no `number` type
    "config:\n  nodes: {type: string, default: a, description: controllers, router, worker}\n",  # a flow-map comma
    "config:\n  zones: {type: array, default: []}\n",  # an array needs `items`
    "config:\n  zones: {type: integer, default: two}\n",  # a default of the wrong type
])
def test_a_project_file_pulumi_would_refuse_is_refused(tmp_path, declaration: str) -> None:
    path = tmp_path / "Pulumi.yaml"
    path.write_text(f"name: switchboard\nruntime: python\n{declaration}")
    with pytest.raises(PulumiConfigError):
        pulumi_project.load_project(path)


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_file_loads_as_pulumi_applies_the_project(stack: str) -> None:
    config = pulumi_project.apply(project(), stack, stack_file(stack))
    for key in project()["config"]:
        assert f"{PROJECT}:{key}" in config, key
    assert config[f"{PROJECT}:kubernetesVersion"] == "1.35"


@pytest.mark.parametrize("stack", STACKS)
def test_no_stack_file_carries_a_value_pulumi_must_decrypt(stack: str) -> None:
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert "secure:" not in text and "placeholder" not in text
    data = yaml.safe_load(text)
    assert not {"secretsprovider", "encryptedkey", "encryptionsalt"} & set(data)


def test_what_pulumi_refuses_before_the_program_runs_is_refused_here_too() -> None:
    """The blockers as they were: undefaulted keys no stack sets, a `secure:` placeholder, a value of the wrong
    type."""
    declared = {"name": "switchboard", "config": {
        "routerShutdownGraceS": {"type": "integer"}, "routerMaxInFlight": {"type": "integer"},
        "systemNodes": {"type": "integer", "default": 2}}}
    with pytest.raises(PulumiConfigError, match="missing configuration values 'routerMaxInFlight' and "
                                                "'routerShutdownGraceS'"):
        pulumi_project.apply(declared, "dev", {"config": {}})
    placeholder = {"config": {"switchboard:routerShutdownGraceS": 30, "switchboard:routerMaxInFlight": 64,
                              "switchboard:hfToken": {"secure": "v1:placeholder:set-with-pulumi-config-set-secret"}}}
    with pytest.raises(PulumiConfigError, match="cannot decrypt 'switchboard:hfToken'"):
        pulumi_project.apply(declared, "dev", placeholder)
    with pytest.raises(PulumiConfigError, match="'systemNodes' must be of type 'integer'"):
        pulumi_project.apply(declared, "dev", {"config": {"switchboard:routerShutdownGraceS": 30,
                                                          "switchboard:routerMaxInFlight": 64,
                                                          "switchboard:systemNodes": "two"}})
    applied = pulumi_project.apply(declared, "dev", {"config": {"switchboard:routerShutdownGraceS": 30,
                                                                "switchboard:routerMaxInFlight": 64}})
    assert applied == {"switchboard:routerShutdownGraceS": "30", "switchboard:routerMaxInFlight": "64",
                       "switchboard:systemNodes": "2"}


def test_the_operator_settings_are_the_ones_the_deploy_guide_sets() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for key in OPERATOR_SETTINGS:
        assert re.search(rf"pulumi config set (--path )?'?{key}", guide), key
    for secret in ("openaiApiKey", "anthropicApiKey", "cohereApiKey", "hfToken", "alertReceiver"):
        assert f"pulumi config set --secret switchboard:{secret}" in guide, secret


# --- placeholders and unreachable settings stop the preview, naming the key -------------------------------------

DIGEST_ZERO = "0" * 64
OLD_VLLM = "vllm/vllm-openai:v0.10.1.1@sha256:d731ee65c044ae0977421eed3d93f931d4b7d79614394184c939db35b8f28fc2"
EXAMPLE_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"switchboard:routerImage": None}, "routerImage: required: the image built from service/Dockerfile"),
    ({"switchboard:routerImage": f"ghcr.io/switchboard-dev/switchboard:0.1.0@sha256:{DIGEST_ZERO}"},
     "routerImage: 'ghcr.io/switchboard-dev/switchboard:0.1.0@sha256:000"),
    ({"switchboard:routerImage": "ghcr.io/x/switchboard:0.1.0"},
     "routerImage: 'ghcr.io/x/switchboard:0.1.0' must be pinned by digest"),
    ({"switchboard:vllmImage": None}, "vllmImage: required: vLLM 0.33.0 or later, pinned by digest"),
    ({"switchboard:vllmImage": OLD_VLLM},
     f"vllmImage: '{OLD_VLLM}': vLLM releases before 0.33.0 have published security advisories"),
    ({"switchboard:apiAllowedCidrs": ["203.0.113.10/32"]}, "apiAllowedCidrs[0]: '203.0.113.10/32' is a documentation"),
    ({"switchboard:apiAllowedCidrs": ["198.51.100.0/28"]}, "apiAllowedCidrs[0]: '198.51.100.0/28' is a documentation"),
    ({"switchboard:apiAllowedCidrs": []}, "apiAllowedCidrs: empty, so the Kubernetes API would be private"),
    ({"switchboard:routerSourceRanges": ["192.0.2.0/24"]}, "routerSourceRanges[0]: '192.0.2.0/24' is a documentation"),
    ({"switchboard:routerExposure": "public", "switchboard:routerCertificateArn": EXAMPLE_CERTIFICATE},
     f"routerCertificateArn: '{EXAMPLE_CERTIFICATE}' is in the AWS documentation's example account"),
    ({"switchboard:kubernetesVersion": "1.33"}, "kubernetesVersion: 1.33 left EKS standard support on 2026-07-29"),
    ({"switchboard:kubernetesVersion": "1.29"}, "kubernetesVersion: '1.29' is not one this stack has checked"),
    ({"switchboard:secretRecoveryWindowDays": 3}, "secretRecoveryWindowDays: 0 (delete at once) or 7-30 days"),
    ({"switchboard:logRetentionDays": 10}, "logRetentionDays: 10 is not a CloudWatch Logs retention"),
    ({"switchboard:runbookBaseUrl": "docs/runbooks"}, "runbookBaseUrl: 'docs/runbooks' must be an https:// URL"),
    ({"switchboard:workerJobVisibilityS": 10}, "workerJobVisibilityS: must be at least 60"),
])
def test_a_placeholder_or_unusable_setting_stops_the_preview_naming_its_key(overrides, message) -> None:
    mocks, _ = configure("dev", overrides)
    with pytest.raises(StackConfigError) as raised:
        load()
    assert str(raised.value).startswith(message)
    assert mocks.resources == []


@pytest.mark.slow  # real time: waits, timers or deployments
def test_a_private_api_is_allowed_when_the_stack_says_so() -> None:
    deployment = deploy("dev", {"switchboard:apiAllowedCidrs": [], "switchboard:apiPrivateOnly": True})
    (cluster,) = deployment.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False


@pytest.mark.slow  # real time: waits, timers or deployments
def test_without_gpus_no_vllm_image_is_needed() -> None:
    deployment = deploy("dev", {"switchboard:gpuEnabled": False, "switchboard:vllmImage": None,
                                "switchboard:defaultRoute": ["openai:gpt-5.4-mini"],
                                "switchboard:routes": {}})
    assert not deployment.k8s("StatefulSet", "vllm")
