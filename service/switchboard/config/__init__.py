"""The config: one YAML file merged over the embedded defaults, validated once at start-up.

A user's file gives only what it changes: mappings merge key by key, a list replaces the default list, and a
key set to null removes the default's entry (`cohere: null` drops that provider). A bad file stops start-up
with a `ConfigError` whose message names the file and the field, in one path style: `routes.x[0].provider`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard.config.base import Chain, Name, Strict
from switchboard.config.cache import CacheConfig, CacheOverride
from switchboard.config.callers import CallersConfig, LimitsConfig
from switchboard.config.gateway import GatewayConfig
from switchboard.config.pipelines import PLACEHOLDER, PipelineConfig, PipelineInput, PipelineStep
from switchboard.config.providers import ModelSettings, ProviderConfig
from switchboard.config.routes import (
    ClassifierConfig,
    Complexity,
    EmbeddingRouteConfig,
    RouteConfig,
    RoutingConfig,
    TierConfig,
)
from switchboard.config.runtime import BreakerConfig, RetryConfig, ServerConfig, TimeoutConfig
from switchboard.core.errors import SwitchboardError, located
from switchboard.pricing import PRICES_ENV

DEFAULT_CONFIG = "defaults.yaml"
CONFIG_ENV = "SWITCHBOARD_CONFIG"
ROUTE_SECTIONS = ("routes", "default_route", "tiers", "embedding_routes")

__all__ = [
    "CONFIG_ENV", "BreakerConfig", "CacheConfig", "CacheOverride", "CallersConfig", "Chain", "ClassifierConfig",
    "Complexity", "ConfigError", "EmbeddingRouteConfig", "GatewayConfig", "LimitsConfig", "ModelSettings",
    "Name", "PLACEHOLDER", "PipelineConfig", "PipelineInput", "PipelineStep", "ProviderConfig", "RetryConfig",
    "RouteConfig", "RoutingConfig", "ServerConfig", "Strict", "TierConfig", "TimeoutConfig",
    "default_config_data", "load_config", "merge", "parse_config",
]


class ConfigError(SwitchboardError):
    """The config file is unusable; the message names the file and the field (`field`: the first one's path)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def default_config_data() -> dict[str, Any]:
    """The embedded defaults as plain data."""
    return yaml.safe_load(resources.files("switchboard").joinpath(DEFAULT_CONFIG).read_text())


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merge, lists and scalars replace, None removes the key."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _describe(error: ValidationError) -> tuple[str, str | None]:
    """Every problem in one message, and the first one's field path."""
    lines = []
    fields = []
    for item in error.errors():
        location = tuple(item["loc"])
        if location and location[0] in ROUTE_SECTIONS:
            location = tuple(part for part in location if part != "targets")  # a route is usually a bare list
        where, message = located(location, item["msg"])
        lines.append(f"{where}: {message}" if where else message)
        fields.append(where or None)
    return "; ".join(lines), fields[0] if fields else None


def parse_config(data: object, source: str = "<config>", *, defaults: bool = True) -> GatewayConfig:
    """Validate `data`, merged over the embedded defaults unless `defaults` is False."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping")
    merged = merge(default_config_data(), data) if defaults else dict(data)
    try:
        return GatewayConfig.model_validate(merged)
    except ValidationError as error:
        message, field = _describe(error)
        raise ConfigError(f"{source}: {message}", field) from None


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Load `path`, else $SWITCHBOARD_CONFIG, else only the embedded defaults."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV) or None
    data: object = {}
    source = f"embedded {DEFAULT_CONFIG}"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{source}: not valid YAML ({error})") from None
    if isinstance(data, dict) and env.get(PRICES_ENV) and "price_table" not in data:
        data = {**data, "price_table": env[PRICES_ENV]}
    return parse_config(data, source)


def config_source(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Where `load_config` reads from, in words (for the start-up line)."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV) or None
    return f"{path} over the embedded defaults" if path else "the embedded defaults"
