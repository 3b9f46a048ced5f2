"""vLLM on the GPU pool: the self-hosted end of every failover chain, behind a ClusterIP Service."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.gpu_pool import GPU_POOL_LABEL, GPU_TOLERATION
from infra.components.k8s import checkov_skips, container_security, http_probe, pod_security
from infra.config import VLLM_PORT, VllmModel

LABELS = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/part-of": "switchboard"}


class VllmServer(pulumi.ComponentResource):
    url: str

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        model: VllmModel,
        gpus: int,
        hf_token: pulumi.Output[str] | None,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:VllmServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        env = [
            {"name": "HF_HOME", "value": "/models"},
            {"name": "HOME", "value": "/tmp"},
            {"name": "VLLM_CACHE_ROOT", "value": "/tmp/vllm"},
        ]
        if hf_token is not None:
            k8s.core.v1.Secret(f"{name}-hf-token", metadata={"name": "hf-token", "namespace": namespace},
                               string_data={"token": hf_token}, opts=child)
            env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}})
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-model-cache",
            metadata={"name": "vllm-model-cache", "namespace": namespace, "labels": LABELS},
            spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": model.cache_size}}},
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, protect=False),
        )
        gpu = {"nvidia.com/gpu": str(gpus)}
        k8s.apps.v1.Deployment(
            name,
            metadata={"name": "vllm", "namespace": namespace, "labels": LABELS, "annotations": checkov_skips(
                CKV_K8S_15="pinned by digest; Always would re-pull a 10 GB image on every restart",
                CKV_K8S_35="HF_TOKEN is read from the environment by vLLM and huggingface_hub",
                CKV_K8S_43="pinned by digest in the tag@sha256 form, which checkov does not parse",
            )},
            spec={
                "replicas": model.replicas,
                "strategy": {"type": "Recreate"},  # one GPU per pod: a surge pod would wait for a GPU forever
                "progressDeadlineSeconds": 1800,
                "selector": {"matchLabels": LABELS},
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "nodeSelector": GPU_POOL_LABEL,
                        "tolerations": [GPU_TOLERATION],
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "containers": [{
                            "name": "vllm",
                            "image": model.image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--model", model.model, "--served-model-name", model.served_name,
                                     "--port", str(VLLM_PORT), "--max-model-len", str(model.max_model_len),
                                     "--tensor-parallel-size", str(gpus), "--enable-prompt-tokens-details",
                                     *model.extra_args],
                            "ports": [{"name": "http", "containerPort": VLLM_PORT}],
                            "env": env,
                            "resources": {"requests": {**gpu, "cpu": "4", "memory": "24Gi"},
                                          "limits": {**gpu, "cpu": "8", "memory": "48Gi"}},
                            "securityContext": container_security(),
                            # Model download and load can take many minutes: a 15-minute startup budget.
                            "startupProbe": http_probe("/health", VLLM_PORT, period=10, failures=90),
                            "readinessProbe": http_probe("/health", VLLM_PORT, period=10, failures=3),
                            "livenessProbe": http_probe("/health", VLLM_PORT, period=20, failures=3),
                            "volumeMounts": [
                                {"name": "shm", "mountPath": "/dev/shm"},
                                {"name": "models", "mountPath": "/models"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }],
                        "volumes": [
                            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
                            {"name": "models", "persistentVolumeClaim": {"claimName": "vllm-model-cache"}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
                        ],
                    },
                },
            },
            opts=child,
        )
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
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "switchboard",
                                                                       "switchboard.dev/calls-vllm": "true"}}}],
                             "ports": [{"port": VLLM_PORT}]}],
            },
            opts=child,
        )
        self.url = f"http://vllm.{namespace}.svc.cluster.local:{VLLM_PORT}/v1"
        self.register_outputs({"url": self.url})
