"""Typed stack config: read once in __main__.py, parsed into frozen dataclasses, validated before any resource.

The route chains are validated with the service's own config schema (the very file the router will load),
so a config that would stop the service fails at `pulumi preview` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from switchboard.config import ConfigError, default_config_data, parse_config

PROVIDERS = ("openai", "anthropic", "cohere")
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "cohere": "CO_API_KEY"}
GPU_FAMILIES = ("g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en", "p6")
PINNED_IMAGE = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$")
VLLM_PORT = 8000


class StackConfigError(ValueError):
    """Raised before any resource is declared; the message names the config key."""


@dataclass(frozen=True)
class GpuPool:
    enabled: bool
    instance_type: str
    gpus_per_node: int
    min_nodes: int
    desired_nodes: int
    max_nodes: int
    ami_type: str  # AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA
    disk_gib: int


@dataclass(frozen=True)
class VllmModel:
    image: str
    model: str
    served_name: str
    max_model_len: int
    replicas: int
    cache_size: str
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


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    namespace: str
    kubernetes_version: str
    existing_cluster: str | None
    subnet_ids: tuple[str, ...]
    system_instance_type: str
    system_nodes: int
    gpu: GpuPool
    vllm: VllmModel
    router: RouterSettings
    redis_mode: str  # elasticache | in-cluster
    redis_node_type: str
    providers: tuple[str, ...]
    routes: dict[str, list[str]]
    default_route: list[str]
    provider_keys: dict[str, pulumi.Output[str] | None] = field(repr=False)
    hf_token: pulumi.Output[str] | None = field(repr=False)
    existing_kubeconfig: pulumi.Output[str] | None = field(repr=False)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.stack}"

    @property
    def vllm_url(self) -> str:
        return f"http://vllm.{self.namespace}.svc.cluster.local:{VLLM_PORT}/v1"

    def routing_config(self) -> dict[str, Any]:
        return render_routing_config(self)


def _chain(targets: list[str], served_name: str) -> list[str]:
    """A stack's chain: a bare `local` (or any local:model) means the in-cluster vLLM model."""
    return [f"local:{served_name}" if target.split(":", 1)[0] == "local" else target for target in targets]


def render_routing_config(cfg: StackConfig) -> dict[str, Any]:
    """The service's config file for this stack: the shipped defaults, this stack's providers and routes,
    and the local tier pointed at the in-cluster vLLM service."""
    data = default_config_data()
    data["providers"] = {name: spec for name, spec in data["providers"].items() if name in cfg.providers}
    data["providers"]["local"] = {
        "kind": "openai_compatible",
        "base_url": cfg.vllm_url,
        "api_key_env": "VLLM_API_KEY",
        "api_key_required": False,
        "models": {cfg.vllm.served_name: {"input": 0, "output": 0}},
    }
    data["routes"] = {name: _chain(chain, cfg.vllm.served_name) for name, chain in cfg.routes.items()}
    data["default_route"] = _chain(cfg.default_route, cfg.vllm.served_name)
    # The shipped pipelines keep their steps, each chain reduced to this stack's providers.
    usable = (*cfg.providers, "local")
    for pipeline in data.get("pipelines", {}).values():
        for step in pipeline["steps"]:
            kept = [target for target in step["targets"] if target.split(":", 1)[0] in usable]
            step["targets"] = _chain(kept, cfg.vllm.served_name)
    return data


def _int(config: pulumi.Config, key: str, default: int) -> int:
    value = config.get_int(key)
    return default if value is None else value


def _positive(value: int, key: str, minimum: int = 1) -> int:
    if value < minimum:
        raise StackConfigError(f"{key}: must be at least {minimum} (got {value})")
    return value


def load(config: pulumi.Config | None = None) -> StackConfig:
    """Read and validate the stack config. Every error names its key."""
    config = config or pulumi.Config()
    project, stack = pulumi.get_project(), pulumi.get_stack()

    providers = tuple(config.get_object("providers") or PROVIDERS)
    for index, name in enumerate(providers):
        if name not in PROVIDERS:
            raise StackConfigError(f"providers[{index}]: unknown provider '{name}' (known: {', '.join(PROVIDERS)})")

    gpu_enabled = config.get_bool("gpuEnabled") or False
    instance_type = config.get("gpuInstanceType") or ""
    if gpu_enabled:
        if not instance_type:
            raise StackConfigError("gpuInstanceType: required when gpuEnabled is true")
        family = instance_type.split(".", 1)[0]
        if family not in GPU_FAMILIES or "." not in instance_type:
            raise StackConfigError(
                f"gpuInstanceType: '{instance_type}' is not a GPU instance type "
                f"(families: {', '.join(GPU_FAMILIES)})"
            )
    gpus_per_node = _int(config, "gpuCount", 1)
    if gpu_enabled:
        _positive(gpus_per_node, "gpuCount")
    ami_type = config.get("gpuAmiType") or "AL2023_x86_64_NVIDIA"
    if ami_type not in ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"):
        raise StackConfigError(f"gpuAmiType: '{ami_type}' is not AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA")
    gpu = GpuPool(
        enabled=gpu_enabled,
        instance_type=instance_type,
        gpus_per_node=gpus_per_node,
        min_nodes=_int(config, "gpuNodesMin", 0),
        desired_nodes=_int(config, "gpuNodesDesired", 1),
        max_nodes=_int(config, "gpuNodesMax", 1),
        ami_type=ami_type,
        disk_gib=_int(config, "gpuDiskGib", 200),
    )
    if gpu.enabled and not gpu.min_nodes <= gpu.desired_nodes <= gpu.max_nodes:
        raise StackConfigError("gpuNodesDesired: must lie between gpuNodesMin and gpuNodesMax")

    images = {key: config.require(key) for key in ("vllmImage", "routerImage")}
    for key, image in images.items():
        if not PINNED_IMAGE.match(image):
            raise StackConfigError(f"{key}: '{image}' must be pinned by digest (name@sha256:<64 hex>)")

    vllm = VllmModel(
        image=images["vllmImage"],
        model=config.get("vllmModel") or "Qwen/Qwen2.5-1.5B-Instruct",
        served_name=config.get("vllmServedModelName") or "local-model",
        max_model_len=_int(config, "vllmMaxModelLen", 8192),
        replicas=_int(config, "vllmReplicas", 1),
        cache_size=config.get("modelCacheSize") or "100Gi",
        extra_args=tuple(config.get_object("vllmExtraArgs") or ()),
    )
    router = RouterSettings(
        image=images["routerImage"],
        replicas=_positive(_int(config, "routerReplicas", 2), "routerReplicas"),
        max_replicas=_int(config, "routerMaxReplicas", 6),
        cpu=config.get("routerCpu") or "500m",
        memory=config.get("routerMemory") or "512Mi",
        worker_replicas=_positive(_int(config, "workerReplicas", 1), "workerReplicas"),
        worker_concurrency=_positive(_int(config, "workerConcurrency", 4), "workerConcurrency"),
    )
    if router.max_replicas < router.replicas:
        raise StackConfigError("routerMaxReplicas: must be at least routerReplicas")

    redis_mode = config.get("redisMode") or "in-cluster"
    if redis_mode not in ("elasticache", "in-cluster"):
        raise StackConfigError(f"redisMode: '{redis_mode}' is not elasticache or in-cluster")

    routes = config.get_object("routes") or {}
    default_route = config.get_object("defaultRoute") or ["local"]
    keys = {name: config.get_secret(f"{name}ApiKey") for name in providers}
    cfg = StackConfig(
        project=project,
        stack=stack,
        namespace=config.get("namespace") or "switchboard",
        kubernetes_version=config.get("kubernetesVersion") or "1.33",
        existing_cluster=config.get("existingClusterName") or None,
        subnet_ids=tuple(config.get_object("subnetIds") or ()),
        system_instance_type=config.get("systemInstanceType") or "t3.large",
        system_nodes=_positive(_int(config, "systemNodes", 2), "systemNodes"),
        gpu=gpu,
        vllm=vllm,
        router=router,
        redis_mode=redis_mode,
        redis_node_type=config.get("redisNodeType") or "cache.t4g.small",
        providers=providers,
        routes=routes,
        default_route=default_route,
        provider_keys=keys,
        hf_token=config.get_secret("hfToken"),
        existing_kubeconfig=config.get_secret("existingKubeconfig"),
    )
    if cfg.existing_cluster and cfg.existing_kubeconfig is None:
        raise StackConfigError("existingKubeconfig: required when existingClusterName is set")
    try:
        parse_config(cfg.routing_config(), "stack config")
    except ConfigError as error:
        message = str(error).removeprefix("stack config: ").replace("default_route", "defaultRoute")
        raise StackConfigError(message) from None
    return cfg


def routing_config_yaml(cfg: StackConfig) -> str:
    return yaml.safe_dump(cfg.routing_config(), sort_keys=True)
