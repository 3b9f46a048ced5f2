"""Small builders for the hardened pod settings every workload here shares."""

from __future__ import annotations

from typing import Any

RUNTIME_DEFAULT = {"type": "RuntimeDefault"}


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
