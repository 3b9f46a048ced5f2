"""The GPU pool: a Karpenter NodePool of one GPU instance type, tainted so only GPU work lands there, and the NVIDIA
device plugin that makes the GPUs schedulable (AL2023's NVIDIA AMI ships the driver, not the plugin).

Nodes exist only while vLLM pods ask for them: the pool has no minimum, and an empty GPU node is removed after a
few minutes. With `spot` the pool also accepts spot capacity, which Karpenter tries first and falls back from to
on-demand; one pool keeps one cap (`gpuNodesMax`) over both.

NVIDIA's DCGM exporter runs on every GPU node (GPU utilisation, memory, temperature, XID errors), scraped through
the ServiceMonitor its chart makes; it waits for the monitoring CRDs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra import capacity, versions
from infra.components.base import Component
from infra.components.k8s import GPU_POOL, GPU_TAINT, MONITORING_NAMESPACE, checkov_skips, container_security
from infra.components.karpenter import NODE_CLASS_API
from infra.config import GpuPool

DEVICE_PLUGIN_IMAGE = (
    "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"
    "@sha256:7089559ce6153018806857f5049085bae15b3bf6f1c8bd19d8b12f707d087dea"
)
GPU_NODE_LABELS = {**GPU_POOL, "nvidia.com/gpu.present": "true"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
DCGM_CHART = "dcgm-exporter"
DCGM_REPOSITORY = "https://nvidia.github.io/dcgm-exporter/helm-charts"


class GpuNodePool(Component):
    pool: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        pool: GpuPool,
        node_class: str,
        karpenter: Sequence[pulumi.Resource],
        monitoring_crds: pulumi.Resource,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:GpuNodePool", name, opts)
        instance = capacity.INSTANCE_TYPES[pool.instance_type]
        self.pool = k8s.apiextensions.CustomResource(
            name, api_version="karpenter.sh/v1", kind="NodePool", metadata={"name": "gpu"},
            spec={
                "template": {
                    "metadata": {"labels": GPU_NODE_LABELS},
                    "spec": {
                        "nodeClassRef": {**NODE_CLASS_API, "name": node_class},
                        "taints": [GPU_TAINT],
                        "requirements": [
                            {"key": "node.kubernetes.io/instance-type", "operator": "In",
                             "values": [pool.instance_type]},
                            {"key": "karpenter.sh/capacity-type", "operator": "In",
                             "values": ["spot", "on-demand"] if pool.spot else ["on-demand"]},
                        ],
                        "expireAfter": "720h",
                    },
                },
                "limits": {"nvidia.com/gpu": str(pool.max_nodes * instance.gpus)},
                # Never move a running vLLM pod to save money (a restart costs minutes); drop empty nodes fast,
                # and replace (drift, expiry) one node at a time.
                "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m",
                               "budgets": [{"nodes": "1"}]},
            },
            opts=self.child(provider=k8s_provider, depends_on=karpenter),
        )
        labels = {"app.kubernetes.io/name": "nvidia-device-plugin"}
        k8s.apps.v1.DaemonSet(
            f"{name}-device-plugin",
            metadata={"name": "nvidia-device-plugin", "namespace": "kube-system", "labels": labels,
                      "annotations": checkov_skips(
                          CKV_K8S_8="the device plugin serves no HTTP endpoint to probe",
                          CKV_K8S_9="the device plugin serves no HTTP endpoint to probe",
                          CKV_K8S_23="must run as root to write the kubelet's device-plugin socket",
                          CKV_K8S_40="must run as root to write the kubelet's device-plugin socket",
                          CKV_K8S_22="NVIDIA's image writes its own state under /var/run",
                          CKV_K8S_38="not needed but harmless; kept as NVIDIA ships it",
                          CKV2_K8S_6="a host-level agent with no network peers",
                      )},
            spec={
                "selector": {"matchLabels": labels},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "priorityClassName": "system-node-critical",
                        "nodeSelector": GPU_POOL,
                        "tolerations": [GPU_TOLERATION],
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "nvidia-device-plugin",
                            "image": DEVICE_PLUGIN_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "securityContext": {**container_security(read_only_root=False, uid=0),
                                                "runAsNonRoot": False},
                            "resources": {"requests": capacity.as_requests(capacity.DEVICE_PLUGIN),
                                          "limits": {"cpu": "200m", "memory": "128Mi"}},
                            "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                        }],
                        "volumes": [{"name": "device-plugin",
                                     "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
                    },
                },
            },
            opts=self.child(provider=k8s_provider),
        )
        k8s.helm.v3.Release(
            f"{name}-dcgm-exporter",
            name=DCGM_CHART,
            chart=DCGM_CHART,
            version=versions.DCGM_EXPORTER.version,
            repository_opts={"repo": DCGM_REPOSITORY},
            namespace=MONITORING_NAMESPACE,
            values={
                "nodeSelector": GPU_POOL,
                "tolerations": [GPU_TOLERATION],
                "resources": {"requests": capacity.as_requests(capacity.DCGM_EXPORTER),
                              "limits": {"memory": "512Mi"}},
                "serviceMonitor": {"enabled": True, "interval": "30s"},
            },
            opts=self.child(provider=k8s_provider, depends_on=[monitoring_crds]),
        )
        self.register_outputs({})
