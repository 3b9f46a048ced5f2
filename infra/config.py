"""Typed stack config: read once in __main__.py, parsed into frozen dataclasses, validated before any resource.

`Pulumi.yaml` declares every key with its type and default, and Pulumi applies those to the stack file before
the program runs, so this module reads each declared key with `require*` (a key missing from `Pulumi.yaml`
fails here, naming it) and keeps no second copy of a default. Every error names its key. Besides shapes and
ranges, the checks that would otherwise surface only as a pod Pending forever or a `pulumi up` that hangs or
fails after the cluster is made are done here: placeholders (an all-zero image digest, a documentation-range
CIDR, the docs' example account), a Kubernetes API nobody outside the VPC can reach, a version past its
support, a vLLM image with published advisories, the vLLM pod against its GPU instance type, the router
against a system node, a public router without a TLS certificate. The routing config the router will load is
validated with the service's own schema (`infra/routing_config.py`)."""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra import capacity, versions
from infra.errors import StackConfigError
from infra.routing_config import KEY_ENV, LOCAL, PROVIDERS, render

__all__ = ["KEY_ENV", "LOCAL", "PROVIDERS", "StackConfig", "StackConfigError", "load"]

PINNED_IMAGE = re.compile(r"^(?P<name>[\w.\-/]+)(?::(?P<tag>[\w.\-]+))?@sha256:(?P<digest>[0-9a-f]{64})$")
ACM_ARN = re.compile(r"^arn:aws[\w-]*:acm:[a-z0-9-]+:(?P<account>\d{12}):certificate/(?P<id>[0-9a-f-]+)$")
VLLM_PORT = 8000
# Networks that are documentation examples and route nowhere (RFC 5737, RFC 3849): a stack naming one passes
# preview and fails 40 minutes later, when nothing can reach the API or the load balancer.
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
EXAMPLE_ACCOUNT = "123456789012"  # the account AWS documentation uses
SECRET_RECOVERY_DAYS = (0, *range(7, 31))
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)  # what CloudWatch Logs accepts
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
    target_in_flight: int | None = None  # the HPA's target per pod; None: half of what a pod sheds at
    job_visibility_s: int = 3600  # SWITCHBOARD_JOB_VISIBILITY_S: the longest a pipeline job may run
    worker_cpu: str = "500m"  # a Celery worker mostly waits on upstream calls
    worker_memory: str = "512Mi"

    @property
    def workers(self) -> int:
        """Processes per router pod: its CPU request rounded up (what the downward API hands the pod)."""
        return max(1, -int(-capacity.quantity(self.cpu) // 1))


@dataclass(frozen=True)
class Observability:
    trace_sample_ratio: float
    prometheus_retention: str
    prometheus_storage: str
    log_retention_days: int = 30
    runbook_base_url: str | None = None


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
    alert_receiver: pulumi.Output[str] | None = field(default=None, repr=False)
    secret_recovery_days: int = 0
    redis_snapshot_days: int = 0

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


def _int(config: pulumi.Config, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
    value = config.require_int(key)
    if minimum is not None and value < minimum:
        raise StackConfigError(f"{key}: must be at least {minimum} (got {value})")
    if maximum is not None and value > maximum:
        raise StackConfigError(f"{key}: must be at most {maximum} (got {value})")
    return value


def _float(config: pulumi.Config, key: str, low: float, high: float) -> float:
    value = config.require_float(key)
    if not low <= value <= high:
        raise StackConfigError(f"{key}: must lie between {low:g} and {high:g} (got {value:g})")
    return value


def _quantity(config: pulumi.Config, key: str) -> str:
    value = config.require(key)
    try:
        if capacity.quantity(value) <= 0:
            raise ValueError
    except ValueError:
        raise StackConfigError(f"{key}: '{value}' is not a positive Kubernetes quantity (e.g. 500m, 2, 12Gi)") from None
    return value


def _cidrs(config: pulumi.Config, key: str, *, allow_anywhere: bool) -> tuple[str, ...]:
    values = tuple(config.require_object(key))
    for index, value in enumerate(values):
        try:
            network = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise StackConfigError(f"{key}[{index}]: '{value}' is not a CIDR block") from None
        if network.prefixlen == 0 and not allow_anywhere:
            raise StackConfigError(f"{key}[{index}]: '{value}' opens it to the whole internet; name your networks")
        if any(network.version == doc.version and network.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS):
            raise StackConfigError(f"{key}[{index}]: '{value}' is a documentation example range (RFC 5737/3849) "
                                   "that routes nowhere; put your own network there")
    return values


def _choice(config: pulumi.Config, key: str, choices: tuple[str, ...]) -> str:
    value = config.require(key)
    if value not in choices:
        raise StackConfigError(f"{key}: '{value}' is not one of {', '.join(choices)}")
    return value


def _image(config: pulumi.Config, key: str, how: str) -> str:
    """An image pinned by digest, whose digest is not a placeholder."""
    image = config.require(key)
    if not image:
        raise StackConfigError(f"{key}: required: {how}")
    match = PINNED_IMAGE.match(image)
    if not match:
        raise StackConfigError(f"{key}: '{image}' must be pinned by digest (name:tag@sha256:<64 hex>)")
    if len(set(match["digest"])) == 1:
        raise StackConfigError(f"{key}: '{image}' carries a placeholder digest; {how}")
    return image


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


def _kubernetes_version(config: pulumi.Config, today: datetime.date) -> str:
    version = config.require("kubernetesVersion")
    end = versions.EKS_STANDARD_SUPPORT.get(version)
    if end is None:
        raise StackConfigError(f"kubernetesVersion: '{version}' is not one this stack has checked (known: "
                               f"{', '.join(versions.EKS_STANDARD_SUPPORT)})")
    if today > end:
        current = max(versions.EKS_STANDARD_SUPPORT, key=versions.version_tuple)
        raise StackConfigError(f"kubernetesVersion: {version} left EKS standard support on {end} (a cluster then "
                               f"bills extended support, $0.60/h instead of $0.10/h); use {current}")
    low, high = (versions.version_tuple(v) for v in versions.KARPENTER_KUBERNETES)
    if not low <= versions.version_tuple(version) <= high:
        raise StackConfigError(f"kubernetesVersion: Karpenter {versions.KARPENTER.version} supports Kubernetes "
                               f"{'-'.join(versions.KARPENTER_KUBERNETES)}, not {version}")
    return version


def load(config: pulumi.Config | None = None, today: datetime.date | None = None) -> StackConfig:
    """Read and validate the stack config. Every error names its key."""
    config = config or pulumi.Config()
    today = today or datetime.date.today()
    project, stack = pulumi.get_project(), pulumi.get_stack()
    for key, why in RETIRED_KEYS.items():
        if config.get(key) is not None:
            raise StackConfigError(f"{key}: no longer used: {why}")

    providers = tuple(config.require_object("providers"))
    for index, name in enumerate(providers):
        if name not in PROVIDERS:
            raise StackConfigError(f"providers[{index}]: unknown provider '{name}' (known: {', '.join(PROVIDERS)})")

    network = Network(
        cidr=str(ipaddress.ip_network(config.require("vpcCidr"))),
        availability_zones=_int(config, "availabilityZones", minimum=2),
        nat_per_az=_choice(config, "natGateways", ("single", "per-az")) == "per-az",
        api_allowed_cidrs=_cidrs(config, "apiAllowedCidrs", allow_anywhere=False),
    )
    if network.availability_zones > 3:
        raise StackConfigError(f"availabilityZones: at most 3 (got {network.availability_zones}); the VPC's "
                               "address plan gives each zone a quarter and keeps the last for public subnets")
    if ipaddress.ip_network(network.cidr).prefixlen > 20:
        raise StackConfigError(f"vpcCidr: '{network.cidr}' is too small for {network.availability_zones} private "
                               "subnets of pods (use a /20 or larger)")
    if not network.api_allowed_cidrs and not config.require_bool("apiPrivateOnly"):
        raise StackConfigError(
            "apiAllowedCidrs: empty, so the Kubernetes API would be private and a `pulumi up` run from outside the "
            "VPC could not reach it once the cluster exists; name your egress network (pulumi config set --path "
            "'apiAllowedCidrs[0]' <your address>/32), or set apiPrivateOnly: true to run from inside the VPC")

    system_type = config.require("systemInstanceType")
    _instance_type(system_type, "systemInstanceType", capacity.CPU_INSTANCE_TYPES)
    general_types = tuple(config.require_object("generalInstanceTypes"))
    for index, name in enumerate(general_types):
        _instance_type(name, f"generalInstanceTypes[{index}]", capacity.CPU_INSTANCE_TYPES)
    nodes = NodePools(system_instance_type=system_type, system_nodes=_int(config, "systemNodes", minimum=1),
                      general_instance_types=general_types,
                      general_cpu_limit=_int(config, "generalCpuLimit", minimum=2))

    gpu = _gpu_pool(config)
    vllm = _vllm(config, gpu)
    router = _router(config, nodes)

    redis_mode = _choice(config, "redisMode", ("elasticache", "in-cluster"))
    routes = config.require_object("routes")
    if not isinstance(routes, dict):
        raise StackConfigError("routes: must map task types to chains")
    recovery = config.require_int("secretRecoveryWindowDays")
    if recovery not in SECRET_RECOVERY_DAYS:
        raise StackConfigError(f"secretRecoveryWindowDays: 0 (delete at once) or 7-30 days (got {recovery})")
    retention = config.require_int("logRetentionDays")
    if retention not in LOG_RETENTION_DAYS:
        raise StackConfigError(f"logRetentionDays: {retention} is not a CloudWatch Logs retention (one of "
                               f"{', '.join(map(str, LOG_RETENTION_DAYS))})")
    runbook_base = config.require("runbookBaseUrl") or None
    if runbook_base is not None and not runbook_base.startswith("https://"):
        raise StackConfigError(f"runbookBaseUrl: '{runbook_base}' must be an https:// URL (the folder of the runbooks)")
    default_route = config.require_object("defaultRoute")
    cfg = StackConfig(
        project=project,
        stack=stack,
        region=pulumi.Config("aws").require("region"),
        namespace=config.require("namespace"),
        kubernetes_version=_kubernetes_version(config, today),
        network=network,
        nodes=nodes,
        gpu=gpu,
        vllm=vllm,
        router=router,
        observability=Observability(
            trace_sample_ratio=_float(config, "traceSampleRatio", 0.0, 1.0),
            prometheus_retention=config.require("prometheusRetention"),
            prometheus_storage=_quantity(config, "prometheusStorage"),
            log_retention_days=retention,
            runbook_base_url=runbook_base,
        ),
        redis_mode=redis_mode,
        redis_node_type=config.require("redisNodeType"),
        providers=providers,
        routes=routes,
        default_route=default_route or None,
        routing_overrides=config.require_object("routingConfig"),
        provider_keys={name: config.get_secret(f"{name}ApiKey") for name in providers},
        admin_key=config.get_secret("adminKey"),
        hf_token=config.get_secret("hfToken"),
        alert_receiver=config.get_secret("alertReceiver"),
        secret_recovery_days=recovery,
        redis_snapshot_days=_int(config, "redisSnapshotDays", minimum=0, maximum=35),
    )
    render(cfg)  # the routing config the router will load, validated with the service's own schema
    return cfg


def _gpu_pool(config: pulumi.Config) -> GpuPool:
    enabled = config.require_bool("gpuEnabled")
    instance_type = config.require("gpuInstanceType")
    gpus = _int(config, "gpuCount", minimum=1 if enabled else None)
    pool = GpuPool(enabled=enabled, instance_type=instance_type, gpus_per_pod=gpus,
                   max_nodes=_int(config, "gpuNodesMax", minimum=1 if enabled else None),
                   spot=config.require_bool("gpuSpot"), disk_gib=_int(config, "gpuDiskGib", minimum=100))
    if enabled:
        if not instance_type:
            raise StackConfigError("gpuInstanceType: required when gpuEnabled is true")
        instance = _instance_type(instance_type, "gpuInstanceType", capacity.GPU_INSTANCE_TYPES)
        if gpus > instance.gpus:
            raise StackConfigError(f"gpuCount: a {instance_type} has {instance.gpus} GPU(s); {gpus} asked")
    return pool


def _vllm(config: pulumi.Config, gpu: GpuPool) -> VllmModel:
    minimum = versions.VLLM_MINIMUM.version
    image = config.require("vllmImage")
    if gpu.enabled:
        image = _image(config, "vllmImage", f"vLLM {minimum} or later, pinned by digest: pulumi config set vllmImage "
                       f"vllm/vllm-openai:v{minimum}@sha256:<digest> (docker buildx imagetools inspect shows it)")
        tag = PINNED_IMAGE.match(image)["tag"]  # type: ignore[index]
        found = versions.version_tuple(tag) if tag else ()
        if found and found < versions.version_tuple(minimum):
            raise StackConfigError(f"vllmImage: '{image}': vLLM releases before {minimum} have published security "
                                   f"advisories ({versions.VLLM_MINIMUM.source}); use {minimum} or later")
    vllm = VllmModel(
        image=image,
        model=config.require("vllmModel"),
        served_name=config.require("vllmServedModelName"),
        max_model_len=_int(config, "vllmMaxModelLen", minimum=256),
        replicas=_int(config, "vllmReplicas", minimum=1 if gpu.enabled else None),
        cache_size=_quantity(config, "modelCacheSize"),
        cpu=_quantity(config, "vllmCpu"),
        memory=_quantity(config, "vllmMemory"),
        startup_minutes=_int(config, "vllmStartupMinutes", minimum=10),
        tool_call_parser=config.require("vllmToolCallParser"),
        extra_args=tuple(config.require_object("vllmExtraArgs")),
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
    image = _image(config, "routerImage", "the image built from service/Dockerfile, pinned by the digest `docker "
                   "push` printed: pulumi config set routerImage <registry>/switchboard:<tag>@sha256:<digest>")
    exposure = _choice(config, "routerExposure", ("internal", "public"))
    certificate = config.require("routerCertificateArn") or None
    if certificate is not None:
        match = ACM_ARN.match(certificate)
        if not match:
            raise StackConfigError(f"routerCertificateArn: '{certificate}' is not an ACM certificate ARN")
        if match["account"] == EXAMPLE_ACCOUNT:
            raise StackConfigError(f"routerCertificateArn: '{certificate}' is in the AWS documentation's example "
                                   "account; use your certificate's ARN")
    if exposure == "public" and certificate is None:
        raise StackConfigError("routerCertificateArn: required when routerExposure is public (TLS terminates at "
                               "the load balancer; the router is never public over plain HTTP)")
    grace = _int(config, "routerShutdownGraceS", minimum=0, maximum=600)
    max_in_flight = _int(config, "routerMaxInFlight", minimum=0)
    target = _int(config, "routerTargetInFlight", minimum=0)
    router = RouterSettings(
        image=image,
        replicas=_int(config, "routerReplicas", minimum=1),
        max_replicas=_int(config, "routerMaxReplicas", minimum=1),
        cpu=_quantity(config, "routerCpu"),
        memory=_quantity(config, "routerMemory"),
        worker_replicas=_int(config, "workerReplicas", minimum=1),
        worker_concurrency=_int(config, "workerConcurrency", minimum=1),
        exposure=exposure,
        certificate_arn=certificate,
        source_ranges=_cidrs(config, "routerSourceRanges", allow_anywhere=True),
        shutdown_grace_s=float(grace) if grace else None,
        max_in_flight=max_in_flight or None,
        target_in_flight=target or None,
        job_visibility_s=_int(config, "workerJobVisibilityS", minimum=60, maximum=43200),
        worker_cpu=_quantity(config, "workerCpu"),
        worker_memory=_quantity(config, "workerMemory"),
    )
    if router.max_replicas < router.replicas:
        raise StackConfigError("routerMaxReplicas: must be at least routerReplicas")
    pod = capacity.Resources(cpu=capacity.quantity(router.cpu), memory=int(capacity.quantity(router.memory)))
    _fits(pod, capacity.INSTANCE_TYPES[nodes.system_instance_type], False, "routerCpu",
          f"a router pod (routerCpu {router.cpu}, routerMemory {router.memory}) on a systemInstanceType node")
    return router
