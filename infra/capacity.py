"""What a node of each instance type the stacks allow can hold, so that a config that cannot schedule fails at
preview (and the deployability tests can check every pod against the nodes it may land on).

Allocatable is computed the way the EKS AL2023 AMI and Karpenter compute it: capacity, less Karpenter's
VM overhead estimate (7.5% of memory), less kube-reserved (CPU: 6% of the first core, 1% of the second, 0.5% of
cores 3-4, 0.25% of the rest; memory: 11 MiB per pod the node may run + 255 MiB), less the kubelet's hard
eviction threshold (100 MiB). Max pods is the ENI limit from amazon-eks-ami's eni-max-pods.txt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIB = 1024 * 1024
GIB = 1024 * MIB
VM_MEMORY_OVERHEAD = 0.075  # Karpenter's default vmMemoryOverheadPercent
EVICTION_HARD = 100 * MIB


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    max_pods: int
    gpus: int = 0
    gpu_memory_gib: int = 0
    hourly_usd: float = 0.0  # Linux on-demand, us-east-1 (see the README's deploy section for the date)

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def allocatable(self) -> Resources:
        cores = self.vcpus
        reserved_millicores = (60 + 10 * min(max(cores - 1, 0), 1) + 5 * min(max(cores - 2, 0), 2)
                               + 2.5 * max(cores - 4, 0))
        memory = self.memory_gib * GIB * (1 - VM_MEMORY_OVERHEAD) - (11 * self.max_pods + 255) * MIB - EVICTION_HARD
        return Resources(cpu=cores - reserved_millicores / 1000, memory=int(memory), gpus=self.gpus)


@dataclass(frozen=True)
class Resources:
    """CPU in cores, memory in bytes, GPUs in devices."""

    cpu: float = 0.0
    memory: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory, self.gpus + other.gpus)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.memory - other.memory, self.gpus - other.gpus)

    def __mul__(self, times: int) -> Resources:
        return Resources(self.cpu * times, self.memory * times, self.gpus * times)

    def fits_in(self, room: Resources) -> bool:
        return self.cpu <= room.cpu + 1e-9 and self.memory <= room.memory and self.gpus <= room.gpus

    def describe(self) -> str:
        gpus = f", {self.gpus} GPU" if self.gpus else ""
        return f"{self.cpu:.2f} CPU, {self.memory / GIB:.1f}Gi{gpus}"


# The instance types a stack may name (systemInstanceType, generalInstanceTypes, gpuInstanceType).
INSTANCE_TYPES: dict[str, InstanceType] = {t.name: t for t in (
    InstanceType("t3.medium", 2, 4, 17, hourly_usd=0.0416),
    InstanceType("t3.large", 2, 8, 35, hourly_usd=0.0832),
    InstanceType("t3.xlarge", 4, 16, 58, hourly_usd=0.1664),
    InstanceType("m6i.large", 2, 8, 29, hourly_usd=0.096),
    InstanceType("m6i.xlarge", 4, 16, 58, hourly_usd=0.192),
    InstanceType("m6i.2xlarge", 8, 32, 58, hourly_usd=0.384),
    InstanceType("m7i.large", 2, 8, 29, hourly_usd=0.1008),
    InstanceType("m7i.xlarge", 4, 16, 58, hourly_usd=0.2016),
    InstanceType("m7i.2xlarge", 8, 32, 58, hourly_usd=0.4032),
    InstanceType("g4dn.xlarge", 4, 16, 29, gpus=1, gpu_memory_gib=16, hourly_usd=0.526),
    InstanceType("g5.xlarge", 4, 16, 58, gpus=1, gpu_memory_gib=24, hourly_usd=1.006),
    InstanceType("g5.2xlarge", 8, 32, 58, gpus=1, gpu_memory_gib=24, hourly_usd=1.212),
    InstanceType("g5.4xlarge", 16, 64, 234, gpus=1, gpu_memory_gib=24, hourly_usd=1.624),
    InstanceType("g6.xlarge", 4, 16, 58, gpus=1, gpu_memory_gib=24, hourly_usd=0.8048),
    InstanceType("g6.2xlarge", 8, 32, 58, gpus=1, gpu_memory_gib=24, hourly_usd=0.9776),
    InstanceType("g6e.xlarge", 4, 32, 58, gpus=1, gpu_memory_gib=48, hourly_usd=1.861),
    InstanceType("g6e.2xlarge", 8, 64, 58, gpus=1, gpu_memory_gib=48, hourly_usd=2.24208),
    InstanceType("g6e.12xlarge", 48, 384, 292, gpus=4, gpu_memory_gib=192, hourly_usd=10.49264),
)}
GPU_INSTANCE_TYPES = tuple(name for name, t in INSTANCE_TYPES.items() if t.gpus)
CPU_INSTANCE_TYPES = tuple(name for name, t in INSTANCE_TYPES.items() if not t.gpus)

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": MIB, "Gi": GIB, "Ti": 1024 * GIB}


def quantity(value: str | float) -> float:
    """A Kubernetes quantity ("500m", "1.5", "24Gi") as a number; raises ValueError otherwise."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a Kubernetes quantity")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def requests(resources: dict[str, object] | None) -> Resources:
    """A container's `resources.requests` (limits when requests are absent, as Kubernetes does)."""
    resources = resources or {}
    asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}  # type: ignore[dict-item]
    return Resources(cpu=quantity(asked.get("cpu", 0)), memory=int(quantity(asked.get("memory", 0))),
                     gpus=int(quantity(asked.get("nvidia.com/gpu", 0))))


def as_requests(resources: Resources) -> dict[str, str]:
    """Resources as a container's `requests` (and limits) block."""
    block = {"cpu": f"{round(resources.cpu * 1000)}m", "memory": f"{resources.memory // MIB}Mi"}
    return {**block, "nvidia.com/gpu": str(resources.gpus)} if resources.gpus else block


# DaemonSets on every node. The EKS add-ons' (aws-node with its network-policy agent, kube-proxy, the Pod Identity
# agent, ebs-csi-node) are their published requests with a margin; the rest are this program's own, and the
# components set exactly these requests.
EKS_ADDON_DAEMONSETS = Resources(cpu=0.25, memory=384 * MIB)
NODE_EXPORTER = Resources(cpu=0.05, memory=64 * MIB)
LOG_AGENT = Resources(cpu=0.05, memory=128 * MIB)  # the collector that ships every pod's lines to CloudWatch Logs
DEVICE_PLUGIN = Resources(cpu=0.05, memory=64 * MIB)
DCGM_EXPORTER = Resources(cpu=0.1, memory=128 * MIB)


def node_daemonsets(gpu: bool) -> Resources:
    return EKS_ADDON_DAEMONSETS + NODE_EXPORTER + LOG_AGENT + (DEVICE_PLUGIN + DCGM_EXPORTER if gpu else Resources())
