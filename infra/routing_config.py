"""The routing config the router loads: only what this stack changes, merged by the service over its defaults.

The service merges its config file over the embedded defaults (mappings key by key, lists replace, a null removes
the key), so the ConfigMap holds the difference between those defaults and what this stack wants: its providers,
its routes, vLLM as the local tier (or no local tier at all without GPUs), the server's own settings. Chains the
stack does not set (other routes, pipeline steps, tiers) come from the defaults: they lose the targets of providers
the stack dropped, and their local target becomes the stack's vLLM model. The service's own parser validates the
result, so a config that would stop the router fails at `pulumi preview` instead.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from infra.errors import StackConfigError
from switchboard.config import ConfigError, default_config_data, merge, parse_config
from switchboard.providers.registry import hosted_kinds

if TYPE_CHECKING:
    from infra.config import StackConfig

_DEFAULTS: dict[str, Any] = default_config_data()
_HOSTED = {kind.name: kind for kind in hosted_kinds()}
# The hosted providers a stack may use (each gets a Secrets Manager secret), and the variable holding each key:
# derived from the provider registry and the service's defaults, never listed here.
PROVIDERS = tuple(name for name, spec in _DEFAULTS["providers"].items() if spec["kind"] in _HOSTED)
KEY_ENV = {name: _DEFAULTS["providers"][name].get("api_key_env") or _HOSTED[_DEFAULTS["providers"][name]["kind"]]
           .api_key_env for name in PROVIDERS}
# The defaults' self-hosted provider (`local`): the stack's vLLM when it has GPUs, and absent when it has none.
# What the stack's vLLM serves (a text model, started with --enable-auto-tool-choice): no vision.
VLLM_CAPABILITIES = ("tools", "json_schema", "logprobs", "n", "seed", "penalties", "logit_bias")
LOCAL = next(name for name, spec in _DEFAULTS["providers"].items() if spec["kind"] not in _HOSTED)
_KNOWN = frozenset(_DEFAULTS["providers"])
STACK_KEYS = {"default_route": "defaultRoute"}  # the service's names for what the stack file calls otherwise


@dataclass(frozen=True)
class RenderedConfig:
    overlay: dict[str, Any]  # the ConfigMap's content: what the stack changes
    effective: dict[str, Any]  # the defaults with the overlay merged in: what the router runs with
    shutdown_grace_s: float  # server.shutdown_grace_s as the service will use it (its default when not set)
    max_in_flight: int  # server.max_in_flight per worker process, likewise

    def yaml(self) -> str:
        return yaml.safe_dump(self.overlay, sort_keys=True)

    def chains(self) -> dict[str, list[str]]:
        """Each route's failover chain, and `default`."""
        routes = {**self.effective.get("routes", {}), "default": self.effective["default_route"]}
        return {name: [_target_text(t) for t in (r["targets"] if isinstance(r, dict) else r)]
                for name, r in routes.items()}


def diff(base: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The smallest override with `merge(base, diff(base, desired)) == desired`."""
    out: dict[str, Any] = {key: None for key in base if key not in desired}
    for key, value in desired.items():
        if key not in base:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, Mapping) and isinstance(base[key], Mapping):
            if changed := diff(base[key], value):
                out[key] = changed
        elif value != base[key]:
            out[key] = copy.deepcopy(value)
    return out


def render(cfg: StackConfig) -> RenderedConfig:
    """This stack's routing config, validated with the service's schema. Errors name the stack key."""
    desired = copy.deepcopy(_DEFAULTS)
    providers = desired["providers"]
    for name in PROVIDERS:
        if name not in cfg.providers:
            del providers[name]
    if cfg.gpu.enabled:
        providers[LOCAL] = {
            **{k: v for k, v in providers[LOCAL].items() if k != "embedded"},
            "base_url": cfg.vllm_url,
            # A text model served with tool parsing on (vllm_server.py): what it can serve, said plainly.
            "models": {cfg.vllm.served_name: {"input": 0, "output": 0, "context_window": cfg.vllm.max_model_len,
                                              "capabilities": list(VLLM_CAPABILITIES)}},
        }
    else:
        del providers[LOCAL]

    for name, chain in cfg.routes.items():
        desired.setdefault("routes", {})[name] = _stack_chain(cfg, f"routes.{name}", chain)
    if cfg.default_route is not None:
        desired["default_route"] = _stack_chain(cfg, "defaultRoute", cfg.default_route)
    server = {key: value for key, value in (("shutdown_grace_s", cfg.router.shutdown_grace_s),
                                            ("max_in_flight", cfg.router.max_in_flight)) if value is not None}
    if server:
        desired["server"] = {**desired.get("server", {}), **server}
    desired = merge(desired, cfg.routing_overrides)
    usable = {*cfg.providers, *((LOCAL,) if cfg.gpu.enabled else ())}
    desired = {key: value if key == "providers" else _retarget(value, key, usable, cfg) for key, value in
               desired.items()}

    overlay = diff(_DEFAULTS, desired)
    try:
        validated = parse_config(overlay, "stack config")
    except ConfigError as error:
        message = str(error).removeprefix("stack config: ")
        for service_key, stack_key in STACK_KEYS.items():
            message = message.replace(service_key, stack_key)
        raise StackConfigError(message) from None
    return RenderedConfig(overlay=overlay, effective=merge(_DEFAULTS, overlay),
                          shutdown_grace_s=float(validated.server.shutdown_grace_s),
                          max_in_flight=int(validated.server.max_in_flight))


def _target_text(target: Any) -> str:
    return target if isinstance(target, str) else f"{target['provider']}:{target['model']}"


def _provider(target: Any) -> str | None:
    """The provider of a target the defaults could name (`openai:gpt-5.4`, {provider, model}); else None."""
    if isinstance(target, str) and ":" in target:
        provider = target.split(":", 1)[0]
    elif isinstance(target, Mapping) and {"provider", "model"} <= target.keys():
        provider = str(target["provider"])
    else:
        return None
    return provider if provider in _KNOWN else None


def _stack_chain(cfg: StackConfig, key: str, chain: Any) -> Any:
    """A chain from the stack file: a bare `local` means the vLLM model; a provider must be one the stack uses."""
    if isinstance(chain, Mapping) and "targets" in chain:
        return {**chain, "targets": _stack_chain(cfg, key, chain["targets"])}
    if not isinstance(chain, list):
        raise StackConfigError(f"{key}: must be a list of provider:model targets")
    targets = []
    for index, target in enumerate(chain):
        if target == LOCAL:
            target = f"{LOCAL}:{cfg.vllm.served_name}"
        provider = _provider(target)
        if provider in PROVIDERS and provider not in cfg.providers:
            raise StackConfigError(f"{key}[{index}]: provider '{provider}' is not among this stack's providers "
                                   f"({', '.join(cfg.providers)})")
        targets.append(target)
    return targets


def _is_chain(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_provider(item) is not None for item in value)


_DROPPED = object()  # an optional chain (a named route, a tier's) left with no target: the entry goes
# A chain the config cannot do without: the top-level default, and each pipeline step's.
def _required(path: str) -> bool:
    return path == "default_route" or path.endswith(".targets")


def _retarget(value: Any, path: str, usable: set[str], cfg: StackConfig) -> Any:
    """Every chain under `value` with only usable providers, and `local` pointing at the stack's model.

    A chain of the defaults that is left empty goes when it is optional (a named route, a tier's chains: requests
    fall back to the default chain); a required one, or one the stack file set, is an error naming the key."""
    if _is_chain(value):
        kept = []
        for target in value:
            provider = _provider(target)
            if provider not in usable:
                continue
            kept.append(f"{LOCAL}:{cfg.vllm.served_name}" if provider == LOCAL else target)
        if kept:
            return kept
        key = STACK_KEYS.get(path, path)
        if not _required(path) and key not in _stack_keys(cfg):
            return _DROPPED
        no_local = "; gpuEnabled is false, so there is no local tier" if not cfg.gpu.enabled else ""
        raise StackConfigError(f"{key}: no target is left once chains keep only this stack's providers "
                               f"({', '.join(sorted(usable))}{no_local}); give it one in routes, defaultRoute or "
                               "routingConfig")
    if isinstance(value, Mapping):
        kept_items = {k: _retarget(v, f"{path}.{k}", usable, cfg) for k, v in value.items()}
        return {k: v for k, v in kept_items.items() if v is not _DROPPED}
    if isinstance(value, list):
        return [_retarget(item, f"{path}[{index}]", usable, cfg) for index, item in enumerate(value)]
    return value


def _stack_keys(cfg: StackConfig) -> set[str]:
    return {*(f"routes.{name}" for name in cfg.routes), *(("defaultRoute",) if cfg.default_route is not None else ())}
