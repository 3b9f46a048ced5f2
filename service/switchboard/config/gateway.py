"""The whole config, and the checks that span its parts (every chain names a known provider and model)."""

from __future__ import annotations

from typing import Annotated, Literal

import yaml
from pydantic import Field, model_validator

from switchboard.config.base import ModelName, Name, Strict
from switchboard.config.cache import CacheConfig
from switchboard.config.callers import CallersConfig, LimitsConfig
from switchboard.config.pipelines import PipelineConfig
from switchboard.config.providers import ModelSettings, ProviderConfig
from switchboard.config.routes import EmbeddingRouteConfig, RouteConfig, RoutingConfig, TierConfig
from switchboard.config.runtime import BreakerConfig, RetryConfig, ServerConfig, TimeoutConfig
from switchboard.core.target import TargetRef
from switchboard.pricing import ModelPrice, PriceTable, load_price_table


class GatewayConfig(Strict):
    providers: Annotated[dict[str, ProviderConfig], Field(min_length=1)]
    routes: dict[Name, RouteConfig] = {}
    default_route: RouteConfig
    tiers: dict[Name, TierConfig] = {}
    embedding_routes: dict[ModelName, EmbeddingRouteConfig] = {}
    routing: RoutingConfig = RoutingConfig()
    default_max_tokens: Annotated[int, Field(ge=1)] = 1024  # when a request gives none (Anthropic needs one)
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    timeouts: TimeoutConfig = TimeoutConfig()
    server: ServerConfig = ServerConfig()
    cache: CacheConfig = CacheConfig()
    limits: LimitsConfig = LimitsConfig()
    callers: CallersConfig = CallersConfig()
    pipelines: dict[Name, PipelineConfig] = {}
    price_table: str | None = None  # a price table file; the embedded one (or $SWITCHBOARD_PRICES) by default
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _targets_exist(self) -> GatewayConfig:
        for where, chain in self.chat_chains().items():
            self._check_chain(where, chain, embedding=False)
        for name, route in self.embedding_routes.items():
            where = f"embedding_routes.{name}"
            self._check_chain(where, route.targets, embedding=True)
            models = {target.model for target in route.targets}
            if len(models) > 1:
                raise ValueError(f"{where}: every target must serve the same model (found {', '.join(sorted(models))})")
        table = self.prices()
        for name, provider in self.providers.items():
            for model, settings in provider.models.items():
                if settings.price() is None and table.get(name, model) is None:
                    raise ValueError(f"providers.{name}.models.{model}: no price in the price table "
                                     f"(version {table.version}); give one inline")
        if self.timeouts.request_s > self.timeouts.max_request_s:
            raise ValueError("timeouts.request_s: must not exceed timeouts.max_request_s")
        for name in (self.callers.admin_tier, self.callers.anonymous_tier):
            if name is not None and self.tiers and name not in self.tiers:
                raise ValueError(f"callers: tier '{name}' is not under tiers (known: {', '.join(self.tiers)})")
        known = {f"{p}/{m}" for p, provider in self.providers.items() for m in provider.models}
        for tier_name, tier in self.tiers.items():
            for index, model in enumerate(tier.models or ()):
                if model not in known:
                    raise ValueError(f"tiers.{tier_name}.models[{index}]: unknown model '{model}' (provider/model)")
        for name, pipeline in self.pipelines.items():
            for index, tier_name in enumerate(pipeline.tiers or ()):
                if tier_name not in self.tiers:
                    raise ValueError(f"pipelines.{name}.tiers[{index}]: unknown tier '{tier_name}' "
                                     f"(known: {', '.join(self.tiers) or 'none'})")
        return self

    def _check_chain(self, where: str, chain: list[TargetRef], embedding: bool) -> None:
        seen: set[str] = set()
        for index, target in enumerate(chain):
            provider = self.providers.get(target.provider)
            if provider is None:
                raise ValueError(f"{where}[{index}]: unknown provider '{target.provider}' "
                                 f"(known: {', '.join(sorted(self.providers))})")
            settings = provider.models.get(target.model)
            if settings is None:
                raise ValueError(f"{where}[{index}]: model '{target.model}' is not listed under "
                                 f"providers.{target.provider}.models")
            if settings.embedding != embedding:
                kind = "an embedding model" if settings.embedding else "not an embedding model"
                raise ValueError(f"{where}[{index}]: '{target.key}' is {kind}")
            if target.key in seen:
                raise ValueError(f"{where}[{index}]: '{target.key}' appears twice in the chain")
            seen.add(target.key)

    def chat_chains(self) -> dict[str, list[TargetRef]]:
        """Every chat chain in the config, by where it is written."""
        chains = {f"routes.{name}": route.targets for name, route in self.routes.items()}
        chains["default_route"] = self.default_route.targets
        for tier_name, tier in self.tiers.items():
            for name, route in tier.routes.items():
                chains[f"tiers.{tier_name}.routes.{name}"] = route.targets
            for level, route in tier.complexity.items():
                chains[f"tiers.{tier_name}.complexity.{level}"] = route.targets
            if tier.default_route is not None:
                chains[f"tiers.{tier_name}.default_route"] = tier.default_route.targets
        for name, pipeline in self.pipelines.items():
            for index, step in enumerate(pipeline.steps):
                chains[f"pipelines.{name}.steps[{index}].targets"] = step.targets
        return chains

    def all_targets(self) -> list[TargetRef]:
        """Every target some chain names, chat and embedding, once each."""
        chains = [*self.chat_chains().values(), *(route.targets for route in self.embedding_routes.values())]
        return list({target.key: target for chain in chains for target in chain}.values())

    def model(self, target: TargetRef) -> ModelSettings:
        return self.providers[target.provider].models[target.model]

    def prices(self) -> PriceTable:
        return _price_table(self.price_table)

    def price(self, provider: str, model: str) -> ModelPrice:
        price = self.providers[provider].models[model].price() or self.prices().get(provider, model)
        assert price is not None  # checked when the config was loaded
        return price


_tables: dict[str | None, PriceTable] = {}


def _price_table(path: str | None) -> PriceTable:
    if path not in _tables:
        try:
            _tables[path] = load_price_table(path)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise ValueError(f"price_table: cannot load {path or 'the embedded price table'}: {error}") from None
    return _tables[path]
