"""Typed stack config: read once in __main__.py, parsed into frozen dataclasses, validated before any resource.

Every error names its key. Besides shapes and ranges, the checks that would otherwise surface only as a pod
Pending forever or a `pulumi up` that hangs are made here: the vLLM pod must fit the GPU instance type, the router
must fit a system node, and a public router needs a TLS certificate. The routing config the router will load is
validated with the service's own schema (`infra/routing_config.py`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra import capacity
from infra.errors import StackConfigError
from infra.routing_config import KEY_ENV, LOCAL, PROVIDERS, render

__all__ = ["KEY_ENV", "LOCAL", "PROVIDERS", "StackConfig", "StackConfigError", "load"]

PINNED_IMAGE = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$")
ACM_ARN = re.compile(r"^arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")
VLLM_PORT = 8000
# Keys earlier versions read; naming one is an error rather than a silent no-op.
RETIRED_KEYS = {
    "subnetIds": "the stack creates its own VPC with private subnets (set vpcCidr and availabilityZones)",
    "existingClusterName": "the stack installs controllers it must own; point a new stack at a new cluster",
    "existingKubeconfig": "the stack installs controllers it must own; point a new stack at a new cluster",
    "gpuNodesMin": "Karpenter sizes the GPU pool from the vLLM pods (set vllmReplicas, and gpuNodesMax as the cap)",
    "gpuNodesDesired": "Karpenter sizes the GPU pool from the vLLM pods (set vllmReplicas, and gpuNodesMax as the cap)",
    "gpuAmiType": "GPU nodes run the EKS AL2023 NVIDIA AMI, chosen by Karpenter",
}


@dataclass(frozen=True)
class Network:
    cidr: str
    availability_zones: int
    nat_per_az: bool  # one NAT gateway per AZ (prod) or a single one (dev)
    api_allowed_cidrs: tuple[str, ...]  # who may reach the public API endpoint; empty: private endpoint only


@dataclass(frozen=True)
class NodePools:
    system_instance_type: str
    system_nodes: int
    general_instance_types: tuple[str, ...]  # Karpenter's pool for router and worker pods beyond the system nodes
    general_cpu_limit: int


@dataclass(frozen=True)
class GpuPool:
    enabled: bool
    instance_type: str
    gpus_per_pod: int
    max_nodes: int
    spot: bool  # also offer a spot pool (tried first); on-demand remains the fallback
    disk_gib: int


@dataclass(frozen=True)
class VllmModel:
    image: str
    model: str
    served_name: str
    max_model_len: int
    replicas: int
    cache_size: str
    cpu: str
    memory: str
    startup_minutes: int  # weights download + load + CUDA graphs, once the container runs
    tool_call_parser: str = "hermes"  # vLLM's parser for the model's tool calls (hermes: Qwen2.5)
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouterSettings:
    image: str
    replicas: int
    max_replicas: int
    cpu: str
    memory: str
    worker_replicas: int
    worker_concurrency: int
    exposure: str  # internal | public
    certificate_arn: str | None  # ACM; TLS terminates at the load balancer
    source_ranges: tuple[str, ...]  # CIDRs allowed to reach the load balancer; empty: anyone who can route to it
    shutdown_grace_s: float | None  # server.shutdown_grace_s; None: the service's default
    max_in_flight: int | None  # server.max_in_flight; None: the service's default


@dataclass(frozen=True)
class Observability:
    trace_sample_ratio: float
    prometheus_retention: str
    prometheus_storage: str


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    region: str
    namespace: str
    kubernetes_version: str
    network: Network
    nodes: NodePools
    gpu: GpuPool
    vllm: VllmModel
    router: RouterSettings
    observability: Observability
    redis_mode: str  # elasticache | in-cluster
    redis_node_type: str
    providers: tuple[str, ...]
    routes: dict[str, list[str]]
    default_route: list[str] | None
    routing_overrides: dict[str, Any]
    provider_keys: dict[str, pulumi.Output[str] | None] = field(repr=False)
    admin_key: pulumi.Output[str] | None = field(repr=False)
    hf_token: pulumi.Output[str] | None = field(repr=False)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.stack}"

    @property
    def vllm_url(self) -> str:
        return f"http://vllm.{self.namespace}.svc.cluster.local:{VLLM_PORT}/v1"

    @property
    def tags(self) -> dict[str, str]:
        """On every AWS resource (provider default tags), and on what the controllers create."""
        return {"project": self.project, "stack": self.stack, "managed-by": "pulumi"}


def _int(config: pulumi.Config, key: str, default: int, minimum: int | None = None) -> int:
    value = config.get_int(key)
    value = default if value is None else value
    if minimum is not None and value < minimum:
        raise StackConfigError(f"{key}: must be at least {minimum} (got {value})")
    return value


def _float(config: pulumi.Config, key: str, default: float | None, low: float, high: float) -> float | None:
    value = config.get_float(key)
    if value is None:
        return default
    if not low <= value <= high:
        raise StackConfigError(f"{key}: must lie between {low:g} and {high:g} (got {value:g})")
    return value


def _quantity(config: pulumi.Config, key: str, default: str) -> str:
    value = config.get(key) or default
    try:
        if capacity.quantity(value) <= 0:
            raise ValueError
    except ValueError:
        raise StackConfigError(f"{key}: '{value}' is not a positive Kubernetes quantity (e.g. 500m, 2, 12Gi)") from None
    return value


def _cidrs(config: pulumi.Config, key: str, *, allow_anywhere: bool) -> tuple[str, ...]:
    values = tuple(config.get_object(key) or ())
    for index, value in enumerate(values):
        try:
            network = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise StackConfigError(f"{key}[{index}]: '{value}' is not a CIDR block") from None
        if network.prefixlen == 0 and not allow_anywhere:
            raise StackConfigError(f"{key}[{index}]: '{value}' opens it to the whole internet; name your networks")
    return values


def _choice(config: pulumi.Config, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = config.get(key) or default
    if value not in choices:
        raise StackConfigError(f"{key}: '{value}' is not one of {', '.join(choices)}")
    return value


def _instance_type(value: str, key: str, allowed: tuple[str, ...]) -> capacity.InstanceType:
    if value not in allowed:
        raise StackConfigError(f"{key}: '{value}' is not an instance type this stack knows the capacity of "
                               f"(known: {', '.join(allowed)})")
    return capacity.INSTANCE_TYPES[value]


def _fits(pod: capacity.Resources, instance: capacity.InstanceType, gpu_node: bool, key: str, what: str) -> None:
    room = instance.allocatable() - capacity.node_daemonsets(gpu=gpu_node)
    if not pod.fits_in(room):
        raise StackConfigError(f"{key}: a {instance.name} node has {room.describe()} left for pods after "
                               f"reservations and DaemonSets; {what} asks for {pod.describe()}")


def load(config: pulumi.Config | None = None) -> StackConfig:
    """Read and validate the stack config. Every error names its key."""
    config = config or pulumi.Config()
    project, stack = pulumi.get_project(), pulumi.get_stack()
    for key, why in RETIRED_KEYS.items():
        if config.get(key) is not None:
            raise StackConfigError(f"{key}: no longer used: {why}")

    providers = tuple(config.get_object("providers") or PROVIDERS)
    for index, name in enumerate(providers):
        if name not in PROVIDERS:
            raise StackConfigError(f"providers[{index}]: unknown provider '{name}' (known: {', '.join(PROVIDERS)})")

    network = Network(
        cidr=str(ipaddress.ip_network(config.get("vpcCidr") or "10.40.0.0/16")),
        availability_zones=_int(config, "availabilityZones", 2, minimum=2),
        nat_per_az=_choice(config, "natGateways", "single", ("single", "per-az")) == "per-az",
        api_allowed_cidrs=_cidrs(config, "apiAllowedCidrs", allow_anywhere=False),
    )
    if network.availability_zones > 3:
        raise StackConfigError(f"availabilityZones: at most 3 (got {network.availability_zones}); the VPC's "
                               "address plan gives each zone a quarter and keeps the last for public subnets")
    if ipaddress.ip_network(network.cidr).prefixlen > 20:
        raise StackConfigError(f"vpcCidr: '{network.cidr}' is too small for {network.availability_zones} private "
                               "subnets of pods (use a /20 or larger)")

    system_type = config.get("systemInstanceType") or "t3.large"
    _instance_type(system_type, "systemInstanceType", capacity.CPU_INSTANCE_TYPES)
    general_types = tuple(config.get_object("generalInstanceTypes") or ("m7i.large", "m7i.xlarge", "m6i.large",
                                                                        "m6i.xlarge"))
    for index, name in enumerate(general_types):
        _instance_type(name, f"generalInstanceTypes[{index}]", capacity.CPU_INSTANCE_TYPES)
    nodes = NodePools(system_instance_type=system_type, system_nodes=_int(config, "systemNodes", 2, minimum=1),
                      general_instance_types=general_types,
                      general_cpu_limit=_int(config, "generalCpuLimit", 32, minimum=2))

    gpu = _gpu_pool(config)
    vllm = _vllm(config, gpu)
    router = _router(config, nodes)

    redis_mode = _choice(config, "redisMode", "in-cluster", ("elasticache", "in-cluster"))
    routes = config.get_object("routes") or {}
    if not isinstance(routes, dict):
        raise StackConfigError("routes: must map task types to chains")
    cfg = StackConfig(
        project=project,
        stack=stack,
        region=pulumi.Config("aws").get("region") or "us-east-1",
        namespace=config.get("namespace") or "switchboard",
        kubernetes_version=config.get("kubernetesVersion") or "1.33",
        network=network,
        nodes=nodes,
        gpu=gpu,
        vllm=vllm,
        router=router,
        observability=Observability(
            trace_sample_ratio=_float(config, "traceSampleRatio", 0.1, 0.0, 1.0) or 0.0,
            prometheus_retention=config.get("prometheusRetention") or "15d",
            prometheus_storage=_quantity(config, "prometheusStorage", "20Gi"),
        ),
        redis_mode=redis_mode,
        redis_node_type=config.get("redisNodeType") or "cache.t4g.small",
        providers=providers,
        routes=routes,
        default_route=config.get_object("defaultRoute"),
        routing_overrides=config.get_object("routingConfig") or {},
        provider_keys={name: config.get_secret(f"{name}ApiKey") for name in providers},
        admin_key=config.get_secret("adminKey"),
        hf_token=config.get_secret("hfToken"),
    )
    render(cfg)  # the routing config the router will load, validated with the service's own schema
    return cfg


def _gpu_pool(config: pulumi.Config) -> GpuPool:
    enabled = config.get_bool("gpuEnabled") or False
    instance_type = config.get("gpuInstanceType") or ""
    gpus = _int(config, "gpuCount", 1, minimum=1 if enabled else None)
    pool = GpuPool(enabled=enabled, instance_type=instance_type, gpus_per_pod=gpus,
                   max_nodes=_int(config, "gpuNodesMax", 1, minimum=1 if enabled else None),
                   spot=config.get_bool("gpuSpot") or False, disk_gib=_int(config, "gpuDiskGib", 200, minimum=100))
    if enabled:
        if not instance_type:
            raise StackConfigError("gpuInstanceType: required when gpuEnabled is true")
        instance = _instance_type(instance_type, "gpuInstanceType", capacity.GPU_INSTANCE_TYPES)
        if gpus > instance.gpus:
            raise StackConfigError(f"gpuCount: a {instance_type} has {instance.gpus} GPU(s); {gpus} asked")
    return pool


def _vllm(config: pulumi.Config, gpu: GpuPool) -> VllmModel:
    image = config.require("vllmImage")
    if not PINNED_IMAGE.match(image):
        raise StackConfigError(f"vllmImage: '{image}' must be pinned by digest (name@sha256:<64 hex>)")
    vllm = VllmModel(
        image=image,
        model=config.get("vllmModel") or "Qwen/Qwen2.5-1.5B-Instruct",
        served_name=config.get("vllmServedModelName") or "local-model",
        max_model_len=_int(config, "vllmMaxModelLen", 8192, minimum=256),
        replicas=_int(config, "vllmReplicas", 1, minimum=1 if gpu.enabled else None),
        cache_size=_quantity(config, "modelCacheSize", "100Gi"),
        cpu=_quantity(config, "vllmCpu", "3"),
        memory=_quantity(config, "vllmMemory", "12Gi"),
        startup_minutes=_int(config, "vllmStartupMinutes", 20, minimum=10),
        tool_call_parser=config.get("vllmToolCallParser") or "hermes",
        extra_args=tuple(config.get_object("vllmExtraArgs") or ()),
    )
    if gpu.enabled:
        instance = capacity.INSTANCE_TYPES[gpu.instance_type]
        pod = capacity.Resources(cpu=capacity.quantity(vllm.cpu), memory=int(capacity.quantity(vllm.memory)),
                                 gpus=gpu.gpus_per_pod)
        _fits(pod, instance, True, "gpuInstanceType", f"the vLLM pod (vllmCpu {vllm.cpu}, vllmMemory {vllm.memory})")
        per_node = instance.gpus // gpu.gpus_per_pod
        if vllm.replicas > gpu.max_nodes * per_node:
            raise StackConfigError(f"gpuNodesMax: {gpu.max_nodes} node(s) of {gpu.instance_type} hold "
                                   f"{gpu.max_nodes * per_node} vLLM pod(s); vllmReplicas is {vllm.replicas}")
    return vllm


def _router(config: pulumi.Config, nodes: NodePools) -> RouterSettings:
    image = config.require("routerImage")
    if not PINNED_IMAGE.match(image):
        raise StackConfigError(f"routerImage: '{image}' must be pinned by digest (name@sha256:<64 hex>)")
    exposure = _choice(config, "routerExposure", "internal", ("internal", "public"))
    certificate = config.get("routerCertificateArn") or None
    if certificate is not None and not ACM_ARN.match(certificate):
        raise StackConfigError(f"routerCertificateArn: '{certificate}' is not an ACM certificate ARN")
    if exposure == "public" and certificate is None:
        raise StackConfigError("routerCertificateArn: required when routerExposure is public (TLS terminates at "
                               "the load balancer; the router is never public over plain HTTP)")
    grace = _float(config, "routerShutdownGraceS", None, 0.0, 600.0)
    max_in_flight = config.get_int("routerMaxInFlight")
    if max_in_flight is not None and max_in_flight < 1:
        raise StackConfigError(f"routerMaxInFlight: must be at least 1 (got {max_in_flight})")
    router = RouterSettings(
        image=image,
        replicas=_int(config, "routerReplicas", 2, minimum=1),
        max_replicas=_int(config, "routerMaxReplicas", 6, minimum=1),
        cpu=_quantity(config, "routerCpu", "500m"),
        memory=_quantity(config, "routerMemory", "512Mi"),
        worker_replicas=_int(config, "workerReplicas", 1, minimum=1),
        worker_concurrency=_int(config, "workerConcurrency", 4, minimum=1),
        exposure=exposure,
        certificate_arn=certificate,
        source_ranges=_cidrs(config, "routerSourceRanges", allow_anywhere=True),
        shutdown_grace_s=grace,
        max_in_flight=max_in_flight,
    )
    if router.max_replicas < router.replicas:
        raise StackConfigError("routerMaxReplicas: must be at least routerReplicas")
    pod = capacity.Resources(cpu=capacity.quantity(router.cpu), memory=int(capacity.quantity(router.memory)))
    _fits(pod, capacity.INSTANCE_TYPES[nodes.system_instance_type], False, "routerCpu",
          f"a router pod (routerCpu {router.cpu}, routerMemory {router.memory}) on a systemInstanceType node")
    return router
