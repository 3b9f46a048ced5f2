"""The Pulumi program, run for the dev and prod stack files under Pulumi's mocks."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.config import StackConfigError, load
from tests.infra.stack import ACCOUNT, ROOT, TEST_SECRET, Deployment, configure, deploy

STACKS = ["dev", "prod"]
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value on the wire


def containers(obj: dict) -> list[dict]:
    spec = obj["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def gpu_pool(deployment: Deployment) -> dict:
    (pool,) = deployment.k8s("NodePool", "gpu")
    return pool["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_gpu_pool_is_tainted_and_vllm_tolerates_it_requests_gpus_and_probes_health(
    deployments: dict[str, Deployment], stack: str
) -> None:
    deployment = deployments[stack]
    pool = gpu_pool(deployment)["template"]
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in pool["spec"]["taints"]
    assert pool["metadata"]["labels"]["switchboard.dev/pool"] == "gpu"

    (vllm,) = deployment.k8s("StatefulSet", "vllm")
    pod = vllm["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"switchboard.dev/pool": "gpu"}
    (container,) = pod["containers"]
    resources = container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] != "0"
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "shm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}} in container["env"]
    (cache,) = vllm["spec"]["volumeClaimTemplates"]  # the model cache, one per replica
    assert {"name": cache["metadata"]["name"], "mountPath": "/models"} in container["volumeMounts"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_image_is_unpinned_or_latest(deployments: dict[str, Deployment], stack: str) -> None:
    images = [c["image"] for obj in deployments[stack].k8s_objects()
              if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet") for c in containers(obj)]
    assert len(images) >= 4
    for image in images:
        assert "@sha256:" in image and ":latest" not in image, image


@pytest.mark.parametrize("stack", STACKS)
def test_the_router_is_hardened(deployments: dict[str, Deployment], stack: str) -> None:
    for name in ("switchboard-router", "switchboard-worker"):
        (deployment,) = deployments[stack].k8s("Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"]["requests"] and container["resources"]["limits"]
    (router,) = deployments[stack].k8s("Deployment", "switchboard-router")
    (container,) = router["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    replicas = router["spec"]["replicas"]
    assert replicas >= 2 if stack == "prod" else replicas >= 1
    for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"):
        assert deployments[stack].k8s(kind), kind


@pytest.mark.parametrize("stack", STACKS)
def test_the_router_may_read_exactly_the_provider_secrets_and_the_admin_key(
    deployments: dict[str, Deployment], stack: str
) -> None:
    deployment = deployments[stack]
    provider_arns = sorted(deployment.outputs["providerSecretArns"].values())
    assert len(provider_arns) == 3
    admin_arn = deployment.outputs["adminKeySecretArn"]
    assert admin_arn.startswith("arn:aws:secretsmanager:") and f"/{stack}/admin-key-" in admin_arn
    role_arn = deployment.outputs["routerRoleArn"]
    role_name = role_arn.rsplit("/", 1)[1]
    policies = {f"arn:aws:iam::{ACCOUNT}:policy/{p.inputs.get('name') or p.name}": p
                for p in deployment.of_type("aws:iam/policy:Policy")}
    attached = [a.inputs["policyArn"] for a in deployment.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role_name]
    assert len(attached) == 1 and attached[0] in policies  # one policy, this program's own
    statements = json.loads(policies[attached[0]].inputs["policy"])["Statement"]
    assert statements == [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                           "Resource": sorted([*provider_arns, admin_arn])}]
    (role,) = [r for r in deployment.of_type("aws:iam/role:Role") if r.name.endswith("-router-pod")]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (association,) = [a for a in deployment.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                      if a.inputs["roleArn"] == role_arn]
    assert association.inputs["serviceAccount"] == "switchboard" and association.inputs["namespace"] == "switchboard"

    (router,) = deployment.k8s("Deployment", "switchboard-router")
    env = {e["name"]: e.get("value") for e in containers(router)[0]["env"]}
    assert env.pop("SWITCHBOARD_ADMIN_KEY_SECRET_ARN") == admin_arn
    assert sorted(v for k, v in env.items() if k.endswith("_SECRET_ARN")) == provider_arns


@pytest.mark.parametrize("stack", STACKS)
def test_all_outputs_exist_and_the_kubeconfig_is_secret(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    outputs = deployment.outputs
    assert {"routerEndpoint", "vllmUrl", "failoverChains", "providerSecretArns", "adminKeySecretArn", "clusterName",
            "kubeconfig", "routerRoleArn"} <= set(outputs)
    assert outputs["routerEndpoint"] == "http://switchboard-123.elb.amazonaws.com"  # internal: plain HTTP in the VPC
    assert outputs["vllmUrl"] == "http://vllm.switchboard.svc.cluster.local:8000/v1"
    assert json.loads(outputs["kubeconfig"])["users"][0]["user"]["exec"]["command"] == "aws"
    assert "kubeconfig" in deployment.secret_outputs
    for name in set(outputs) - deployment.secret_outputs:  # nothing derived from a key is in the clear
        assert "test-secret-value" not in json.dumps(outputs[name])


@pytest.mark.parametrize("stack", STACKS)
def test_keys_reach_secrets_manager_and_nothing_else(deployments: dict[str, Deployment], stack: str) -> None:
    deployment = deployments[stack]
    versions = [v.inputs["secretString"] for v in deployment.of_type("aws:secretsmanager/secretVersion:SecretVersion")]
    assert all(isinstance(v, dict) and SECRET_SIG in v for v in versions)  # sent to the engine as secrets
    assert sorted(v["value"] for v in versions) == sorted(
        [*(TEST_SECRET.format(f"{p}ApiKey") for p in ("openai", "anthropic", "cohere")),
         f"generated-switchboard-{stack}-admin-key"])  # no adminKey in the stack file: generated
    for obj in deployment.k8s_objects():  # no key in any Kubernetes object (Secrets' values are redacted)
        assert "ApiKey" not in json.dumps(obj) and "generated-" not in json.dumps(obj)


@pytest.mark.parametrize(("stack", "expected"), [
    ("dev", {"creative_writing": ["openai:gpt-5.4-mini", "anthropic:claude-haiku-4-5", "local:qwen2.5-1.5b-instruct"],
             "default": ["openai:gpt-5.4-mini", "local:qwen2.5-1.5b-instruct"]}),
    ("prod", {"creative_writing": ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:qwen2.5-7b-instruct"],
              "default": ["openai:gpt-5.4-mini", "anthropic:claude-haiku-4-5", "local:qwen2.5-7b-instruct"]}),
])
def test_each_stack_yields_the_chains_its_file_says(deployments: dict[str, Deployment], stack, expected) -> None:
    chains = deployments[stack].outputs["failoverChains"]
    for route, chain in expected.items():
        assert chains[route] == chain
    (config_map,) = deployments[stack].k8s("ConfigMap", "switchboard-config")
    rendered = yaml.safe_load(config_map["data"]["switchboard.yaml"])
    assert rendered["routes"]["creative_writing"] == expected["creative_writing"]
    assert rendered["providers"]["local"]["base_url"] == "http://vllm.switchboard.svc.cluster.local:8000/v1"
    assert "retry" not in rendered and "timeouts" not in rendered  # only what the stack changes

def test_dev_and_prod_differ_as_environments_do(deployments: dict[str, Deployment]) -> None:
    def requirement(stack: str, key: str) -> list[str]:
        requirements = gpu_pool(deployments[stack])["template"]["spec"]["requirements"]
        return next(r["values"] for r in requirements if r["key"] == key)

    def vllm_replicas(stack: str) -> int:
        return deployments[stack].k8s("StatefulSet", "vllm")[0]["spec"]["replicas"]

    assert requirement("dev", "node.kubernetes.io/instance-type") == ["g5.xlarge"]
    assert requirement("prod", "node.kubernetes.io/instance-type") == ["g6e.2xlarge"]
    assert "spot" in requirement("dev", "karpenter.sh/capacity-type")  # dev: spot first
    assert requirement("prod", "karpenter.sh/capacity-type") == ["on-demand"]
    assert vllm_replicas("dev") == 1 and vllm_replicas("prod") == 2  # prod never scales its GPUs to zero
    subnets = {stack: len(deployments[stack].of_type("aws:ec2/subnet:Subnet")) for stack in STACKS}
    nats = {stack: len(deployments[stack].of_type("aws:ec2/natGateway:NatGateway")) for stack in STACKS}
    assert subnets == {"dev": 4, "prod": 6} and nats == {"dev": 1, "prod": 3}
    assert not deployments["dev"].of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    (redis,) = deployments["prod"].of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis.inputs["transitEncryptionEnabled"] is True
    assert deployments["dev"].k8s("Deployment", "redis") and not deployments["prod"].k8s("Deployment", "redis")


def test_changing_the_primary_provider_changes_the_config_map_and_rolls_the_pods(
    deployments: dict[str, Deployment]
) -> None:
    routes = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["switchboard:routes"]
    routes["creative_writing"] = ["anthropic:claude-haiku-4-5", "openai:gpt-5.4-mini", "local"]
    changed = deploy("dev", {"switchboard:routes": routes})

    def rendered(deployment: Deployment) -> tuple[dict, str]:
        (config_map,) = deployment.k8s("ConfigMap", "switchboard-config")
        (router,) = deployment.k8s("Deployment", "switchboard-router")
        return (yaml.safe_load(config_map["data"]["switchboard.yaml"]),
                router["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    before, before_sum = rendered(deployments["dev"])
    after, after_sum = rendered(changed)
    assert before["routes"]["creative_writing"][0] == "openai:gpt-5.4-mini"
    assert after["routes"]["creative_writing"][0] == "anthropic:claude-haiku-4-5"
    assert before_sum != after_sum
    assert changed.outputs["failoverChains"]["creative_writing"][0] == "anthropic:claude-haiku-4-5"


def test_without_the_gpu_pool_no_gpu_nodes_are_made(without_gpus: Deployment) -> None:
    assert not without_gpus.k8s("NodePool", "gpu")
    assert not without_gpus.k8s("DaemonSet")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"switchboard:providers": ["openai", "mistral"]}, "providers[1]: unknown provider 'mistral'"),
        ({"switchboard:routes": {"creative_writing": ["mistral:large", "local"]}},
         "routes.creative_writing[0]: unknown provider 'mistral'"),
        ({"switchboard:routes": {"creative_writing": ["openai:gpt-0", "local"]}},
         "routes.creative_writing[0]: model 'gpt-0' is not listed under providers.openai.models"),
        ({"switchboard:defaultRoute": ["cohere"]}, "defaultRoute[0]: 'cohere' is not of the form provider:model"),
        ({"switchboard:gpuInstanceType": None}, "gpuInstanceType: required when gpuEnabled is true"),
        ({"switchboard:gpuInstanceType": "m5.large"}, "gpuInstanceType: 'm5.large' is not an instance type"),
        ({"switchboard:gpuCount": 0}, "gpuCount: must be at least 1"),
        ({"switchboard:vllmImage": "vllm/vllm-openai:latest"}, "vllmImage: 'vllm/vllm-openai:latest' must be pinned"),
        ({"switchboard:redisMode": "memcached"}, "redisMode: 'memcached'"),
        # Deployability caught before `pulumi up`: what would otherwise be a pod Pending forever.
        ({"switchboard:vllmCpu": "4", "switchboard:vllmMemory": "24Gi"},
         ("gpuInstanceType: a g5.xlarge node has 3.42 CPU, 13.1Gi, 1 GPU left for pods after reservations and "
          "DaemonSets; the vLLM pod (vllmCpu 4, vllmMemory 24Gi) asks for 4.00 CPU, 24.0Gi, 1 GPU")),
        ({"switchboard:routerCpu": "2"}, "routerCpu: a t3.large node has"),
        ({"switchboard:gpuCount": 2}, "gpuCount: a g5.xlarge has 1 GPU(s); 2 asked"),
        ({"switchboard:vllmReplicas": 2}, "gpuNodesMax: 1 node(s) of g5.xlarge hold 1 vLLM pod(s); vllmReplicas is 2"),
        ({"switchboard:routerExposure": "public"}, "routerCertificateArn: required when routerExposure is public"),
        ({"switchboard:routerCertificateArn": "arn:aws:iam::123456789012:server-certificate/x"},
         "routerCertificateArn: 'arn:aws:iam::123456789012:server-certificate/x' is not an ACM certificate ARN"),
        ({"switchboard:apiAllowedCidrs": ["0.0.0.0/0"]}, "apiAllowedCidrs[0]: '0.0.0.0/0' opens it to the"),
        ({"switchboard:routerSourceRanges": ["10.0.0.0/33"]}, "routerSourceRanges[0]: '10.0.0.0/33' is not a"),
        ({"switchboard:gpuNodesMin": 0}, "gpuNodesMin: no longer used"),
        ({"switchboard:subnetIds": ["subnet-a"]}, "subnetIds: no longer used"),
        ({"switchboard:availabilityZones": 4}, "availabilityZones: at most 3 (got 4)"),
        ({"switchboard:routes": {"creative_writing": ["cohere:command-a-03-2025"]},
          "switchboard:providers": ["openai", "anthropic"]},
         "routes.creative_writing[0]: provider 'cohere' is not among this stack's providers (openai, ant"),
    ],
)
def test_invalid_stack_config_fails_before_any_resource_naming_the_key(overrides, message) -> None:
    mocks, _ = configure("dev", overrides)
    with pytest.raises(StackConfigError) as raised:
        load()
    assert message in str(raised.value)
    assert mocks.resources == []
