"""vLLM on the GPU pool: the self-hosted end of every failover chain, behind a ClusterIP Service.

A StatefulSet, so each replica has its own model cache: a gp3 volume made in the zone its first node landed in
(EBS is zonal; Karpenter brings a restarted pod's node up in its volume's zone). A ReadWriteOnce volume shared by
two replicas could never attach to both nodes. The API key (the same Secret the router sends as a bearer token)
keeps anything else in the cluster off the model even where a NetworkPolicy is not enforced.

The first start is slow: a GPU node boots, a ~10 GB image is pulled, weights are downloaded and loaded, CUDA graphs
are captured. Pulumi waits for the StatefulSet to be ready for `first_start_minutes()`, not its default ten.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.base import Component
from infra.components.k8s import (
    FROM_MONITORING,
    GPU_POOL,
    GPU_TOLERATION,
    checkov_skips,
    container_security,
    http_probe,
    pod_security,
)
from infra.config import VLLM_PORT, VllmModel

LABELS = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/part-of": "switchboard"}
API_KEY_SECRET = "vllm-api-key"
API_KEY = "key"
CACHE = "/models"
NODE_BOOT_MINUTES = 3  # Karpenter's launch and the node joining
IMAGE_PULL_MINUTES = 10  # ~10 GB of layers, pulled and unpacked


def first_start_minutes(model: VllmModel) -> int:
    """How long Pulumi waits for a new vLLM pod: node, image, then the startup probe's whole budget."""
    return NODE_BOOT_MINUTES + IMAGE_PULL_MINUTES + model.startup_minutes + 5


class VllmServer(Component):
    url: str
    api_key_secret: k8s.core.v1.Secret

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        model: VllmModel,
        gpus: int,
        storage_class: str,
        api_key: pulumi.Output[str],
        hf_token: pulumi.Output[str] | None,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:VllmServer", name, opts)
        child = self.child(provider=k8s_provider)
        self.api_key_secret = k8s.core.v1.Secret(
            f"{name}-api-key", metadata={"name": API_KEY_SECRET, "namespace": namespace, "labels": LABELS},
            string_data={API_KEY: api_key}, opts=child)
        env = [
            {"name": "HF_HOME", "value": f"{CACHE}/hf"},
            {"name": "VLLM_CACHE_ROOT", "value": f"{CACHE}/vllm"},  # compiled graphs survive restarts too
            # UID 10001 has no passwd entry: PyTorch's getpass.getuser() reads these first, and HOME must be writable.
            {"name": "HOME", "value": "/tmp"},
            {"name": "USER", "value": "vllm"},
            {"name": "LOGNAME", "value": "vllm"},
            {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
            {"name": "DO_NOT_TRACK", "value": "1"},
            # vLLM reads VLLM_API_KEY as its --api-key (kept out of the command line).
            {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY}}},
        ]
        if hf_token is not None:
            k8s.core.v1.Secret(f"{name}-hf-token", metadata={"name": "hf-token", "namespace": namespace},
                               string_data={"token": hf_token}, opts=child)
            env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}})
        resources = {"cpu": model.cpu, "memory": model.memory, "nvidia.com/gpu": str(gpus)}
        startup_checks = model.startup_minutes * 6  # every 10 s
        k8s.core.v1.Service(
            f"{name}-pods",
            metadata={"name": "vllm-pods", "namespace": namespace, "labels": LABELS},
            spec={"clusterIP": "None", "selector": LABELS,
                  "ports": [{"name": "http", "port": VLLM_PORT, "targetPort": "http"}]},
            opts=child,
        )
        k8s.apps.v1.StatefulSet(
            name,
            metadata={"name": "vllm", "namespace": namespace, "labels": LABELS, "annotations": checkov_skips(
                CKV_K8S_35="vLLM and huggingface_hub read VLLM_API_KEY and HF_TOKEN from the environment only",
            )},
            spec={
                "replicas": model.replicas,
                "serviceName": "vllm-pods",
                "podManagementPolicy": "Parallel",  # replicas start together: each takes minutes
                "selector": {"matchLabels": LABELS},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                "volumeClaimTemplates": [{
                    "metadata": {"name": "models", "labels": LABELS},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                             "resources": {"requests": {"storage": model.cache_size}}},
                }],
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "nodeSelector": GPU_POOL,
                        "tolerations": [GPU_TOLERATION],
                        "automountServiceAccountToken": False,
                        "securityContext": {**pod_security(), "fsGroupChangePolicy": "OnRootMismatch"},
                        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                       "whenUnsatisfiable": "ScheduleAnyway",
                                                       "labelSelector": {"matchLabels": LABELS}}],
                        "terminationGracePeriodSeconds": 60,
                        "containers": [{
                            "name": "vllm",
                            "image": model.image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--model", model.model, "--served-model-name", model.served_name,
                                     "--port", str(VLLM_PORT), "--max-model-len", str(model.max_model_len),
                                     "--tensor-parallel-size", str(gpus), "--enable-prompt-tokens-details",
                                     # Tool calls (the router sends tools to the local tier too): Qwen's format.
                                     "--enable-auto-tool-choice", "--tool-call-parser", model.tool_call_parser,
                                     *model.extra_args],
                            "ports": [{"name": "http", "containerPort": VLLM_PORT}],
                            "env": env,
                            # Requests equal limits: a Guaranteed pod, never the first evicted.
                            "resources": {"requests": resources, "limits": resources},
                            "securityContext": container_security(),
                            "startupProbe": http_probe("/health", VLLM_PORT, period=10, failures=startup_checks),
                            "readinessProbe": http_probe("/health", VLLM_PORT, period=10, failures=3),
                            "livenessProbe": http_probe("/health", VLLM_PORT, period=20, failures=3),
                            "volumeMounts": [
                                {"name": "shm", "mountPath": "/dev/shm"},
                                {"name": "models", "mountPath": CACHE},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }],
                        "volumes": [
                            # Memory-backed, so it counts against the memory limit: sized to what NCCL needs.
                            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{gpus}Gi"}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
                        ],
                    },
                },
            },
            opts=self.child(
                provider=k8s_provider, depends_on=[self.api_key_secret],
                custom_timeouts=pulumi.CustomTimeouts(create=f"{first_start_minutes(model)}m",
                                                      update=f"{first_start_minutes(model)}m")),
        )
        if model.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata={"name": "vllm", "namespace": namespace},
                spec={"selector": {"matchLabels": LABELS}, "maxUnavailable": 1}, opts=child)
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "vllm", "namespace": namespace, "labels": LABELS},
            spec={"type": "ClusterIP", "selector": LABELS,
                  "ports": [{"name": "http", "port": VLLM_PORT, "targetPort": "http"}]},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network",
            metadata={"name": "vllm", "namespace": namespace},
            spec={
                "podSelector": {"matchLabels": LABELS},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "switchboard",
                                                               "switchboard.dev/calls-vllm": "true"}}}],
                     "ports": [{"port": VLLM_PORT}]},
                    {"from": [FROM_MONITORING], "ports": [{"port": VLLM_PORT}]},  # Prometheus: /metrics
                ],
            },
            opts=child,
        )
        self.url = f"http://vllm.{namespace}.svc.cluster.local:{VLLM_PORT}/v1"
        self.register_outputs({"url": self.url})
