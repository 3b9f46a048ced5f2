"""The GPU node pool: a managed node group on the NVIDIA AMI, tainted so only GPU work lands there."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.cluster import node_role
from infra.components.k8s import container_security
from infra.config import GpuPool

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
GPU_POOL_LABEL = {"switchboard.dev/pool": "gpu"}
# AL2023's NVIDIA AMI ships the driver but not the device plugin (Bottlerocket's advertises GPUs itself).
DEVICE_PLUGIN_IMAGE = (
    "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"
    "@sha256:7089559ce6153018806857f5049085bae15b3bf6f1c8bd19d8b12f707d087dea"
)


class GpuNodePool(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        cluster_name: pulumi.Input[str],
        subnet_ids: Sequence[str],
        pool: GpuPool,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("switchboard:infra:GpuNodePool", name, None, opts)
        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=cluster_name,
            node_role_arn=node_role(f"{name}-node", self).arn,
            subnet_ids=list(subnet_ids),
            ami_type=pool.ami_type,
            instance_types=[pool.instance_type],
            disk_size=pool.disk_gib,
            scaling_config={"min_size": pool.min_nodes, "desired_size": pool.desired_nodes,
                            "max_size": pool.max_nodes},
            taints=[GPU_TAINT],
            labels={**GPU_POOL_LABEL, "nvidia.com/gpu.present": "true"},
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        if pool.ami_type.startswith("AL2023"):
            self._device_plugin(name, k8s_provider)
        self.register_outputs({"node_group": self.node_group.arn})

    def _device_plugin(self, name: str, provider: k8s.Provider) -> None:
        labels = {"app.kubernetes.io/name": "nvidia-device-plugin"}
        k8s.apps.v1.DaemonSet(
            f"{name}-device-plugin",
            metadata={"name": "nvidia-device-plugin", "namespace": "kube-system", "labels": labels,
                      "annotations": {
                          "checkov.io/skip1": "CKV_K8S_8=the device plugin serves no HTTP endpoint to probe",
                          "checkov.io/skip2": "CKV_K8S_9=the device plugin serves no HTTP endpoint to probe",
                          "checkov.io/skip3": "CKV_K8S_21=device plugins run in kube-system by design",
                          "checkov.io/skip4": "CKV_K8S_23=must run as root to write the kubelet's device-plugin socket",
                          "checkov.io/skip5": "CKV_K8S_40=must run as root to write the kubelet's device-plugin socket",
                          "checkov.io/skip6": "CKV_K8S_22=NVIDIA's image writes its own state under /var/run",
                          "checkov.io/skip7": "CKV_K8S_15=pinned by digest; IfNotPresent avoids a registry trip per node",
                          "checkov.io/skip8": "CKV_K8S_38=not needed but harmless; kept as NVIDIA ships it",
                          "checkov.io/skip9": "CKV2_K8S_6=a host-level agent with no network peers",
                      }},
            spec={
                "selector": {"matchLabels": labels},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "priorityClassName": "system-node-critical",
                        "nodeSelector": GPU_POOL_LABEL,
                        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "nvidia-device-plugin",
                            "image": DEVICE_PLUGIN_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "securityContext": {**container_security(read_only_root=False, uid=0),
                                                "runAsNonRoot": False},
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"cpu": "200m", "memory": "128Mi"}},
                            "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                        }],
                        "volumes": [{"name": "device-plugin",
                                     "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
