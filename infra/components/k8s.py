"""Small builders for the hardened pod settings every workload here shares."""

from __future__ import annotations

from typing import Any

RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
# The node pools, by the label each one's nodes carry: the fixed system node group, Karpenter's general pool (what
# does not fit the system nodes) and Karpenter's GPU pool (tainted: only pods that tolerate the taint land there).
POOL_LABEL = "switchboard.dev/pool"
SYSTEM_POOL = {POOL_LABEL: "system"}
GENERAL_POOL = {POOL_LABEL: "general"}
GPU_POOL = {POOL_LABEL: "gpu"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
MONITORING_NAMESPACE = "monitoring"
FROM_MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}


HIGH_UID = 10001  # above the host's users (checkov CKV_K8S_40)


def container_security(read_only_root: bool = True, uid: int = HIGH_UID) -> dict[str, Any]:
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": RUNTIME_DEFAULT,
    }


def pod_security(uid: int = HIGH_UID) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": RUNTIME_DEFAULT}


def http_probe(path: str, port: int | str, period: int, failures: int, initial: int = 0) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures,
            "initialDelaySeconds": initial, "timeoutSeconds": 5}


def checkov_skips(**reasons: str) -> dict[str, str]:
    """checkov's annotation form: `checkov.io/skipN: CHECK_ID=reason`. Every skip must say why."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(reasons.items(), 1)}
