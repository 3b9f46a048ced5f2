"""The routing config: one YAML file, validated once at start-up.

A bad file stops start-up with a `ConfigError` whose message names the field.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard.pricing import ModelPrice, PriceTable, load_price_table

ProviderKind = Literal["openai", "anthropic", "cohere", "openai_compatible"]
PositiveFloat = Annotated[float, Field(gt=0)]

DEFAULT_CONFIG = "defaults.yaml"
CONFIG_ENV = "SWITCHBOARD_CONFIG"


class ConfigError(Exception):
    """The config file is unusable; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(_Strict):
    kind: ProviderKind
    base_url: str | None = None
    base_url_env: str | None = None
    api_key_env: str | None = None
    api_key_required: bool = True
    embedded: bool = False  # start the embedded llama.cpp server when no base URL is set
    # Model names; a price given here overrides the price table (self-hosted models are priced here).
    models: Annotated[dict[str, ModelPrice | None], Field(min_length=1)]

    @field_validator("models", mode="before")
    @classmethod
    def _names_alone(cls, value: object) -> object:
        return dict.fromkeys(value) if isinstance(value, list) else value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _has_base_url(self) -> ProviderConfig:
        if not (self.base_url or self.base_url_env or self.embedded):
            raise ValueError("give base_url, base_url_env or embedded: true")
        if self.embedded and self.kind != "openai_compatible":
            raise ValueError("embedded is only for kind openai_compatible")
        return self

    def resolved_base_url(self, env: os._Environ[str] | dict[str, str]) -> str | None:
        url = (env.get(self.base_url_env) if self.base_url_env else None) or self.base_url
        return url.rstrip("/") if url else None

    def resolved_api_key(self, env: os._Environ[str] | dict[str, str]) -> str | None:
        return (env.get(self.api_key_env) or None) if self.api_key_env else None


class RetryConfig(_Strict):
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    initial_backoff_s: PositiveFloat = 0.5
    max_backoff_s: PositiveFloat = 8.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25


class BreakerConfig(_Strict):
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    cooldown_s: PositiveFloat = 30.0


class TimeoutConfig(_Strict):
    request_s: PositiveFloat = 60.0
    pipeline_s: PositiveFloat = 300.0  # a whole pipeline run, when the caller gives no timeout_s
    max_request_s: PositiveFloat = 600.0
    attempt_s: PositiveFloat = 30.0
    connect_s: PositiveFloat = 5.0
    first_token_s: PositiveFloat = 15.0  # streaming: from sending the request to the first content token
    stall_s: PositiveFloat = 15.0  # streaming: the longest silence between chunks


class TargetRef(_Strict):
    """`provider:model`, one step of a failover chain."""

    provider: str
    model: str

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model}"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        if isinstance(value, str):
            provider, sep, model = value.partition(":")
            if not sep or not provider or not model:
                raise ValueError(f"'{value}' is not of the form provider:model")
            return {"provider": provider, "model": model}
        return value


Chain = Annotated[list[TargetRef], Field(min_length=1)]


class RouteConfig(_Strict):
    """A failover chain, and optionally its own streaming timeouts. A bare list is just the chain."""

    targets: Chain
    first_token_s: PositiveFloat | None = None
    stall_s: PositiveFloat | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object) -> object:
        return {"targets": value} if isinstance(value, list) else value


PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?\}")
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=64)]


class PipelineInput(_Strict):
    """An input is required unless it has a default."""

    description: str | None = None
    default: str | None = None


class PipelineStep(_Strict):
    """One request of a pipeline. `prompt` (and `system`) may use {inputs.NAME} and {steps.NAME}."""

    name: Name
    targets: Chain
    prompt: Annotated[str, Field(min_length=1)]
    system: str | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None

    def placeholders(self) -> list[tuple[str, str | None]]:
        text = self.prompt + (self.system or "")
        return [(match.group(1), match.group(2)) for match in PLACEHOLDER.finditer(text)]

    def depends_on(self) -> list[str]:
        return list(dict.fromkeys(name for space, name in self.placeholders() if space == "steps" and name))


class PipelineConfig(_Strict):
    description: str | None = None
    inputs: dict[Name, PipelineInput] = {}
    steps: Annotated[list[PipelineStep], Field(min_length=1)]
    output: str | None = None  # the step whose text is the result; the last step by default

    @model_validator(mode="after")
    def _templates_refer_to_known_things(self) -> PipelineConfig:
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            where = f"steps[{index}] ({step.name})"
            if step.name in seen:
                raise ValueError(f"{where}: step name '{step.name}' is used twice")
            for space, name in step.placeholders():
                placeholder = f"{{{space}.{name}}}" if name else f"{{{space}}}"
                if space == "inputs" and name in self.inputs:
                    continue
                if space == "steps" and name in seen:
                    continue
                if space == "inputs":
                    problem = f"refers to unknown input '{name}' (declared: {', '.join(self.inputs) or 'none'})"
                elif space == "steps" and name in {s.name for s in self.steps}:
                    problem = f"refers to step '{name}', which does not run before it"
                elif space == "steps":
                    problem = f"refers to unknown step '{name}'"
                else:
                    problem = "is not a placeholder: use {inputs.NAME} or {steps.NAME}"
                raise ValueError(f"{where}.prompt: {placeholder} {problem}")
            seen.add(step.name)
        if self.output is not None and self.output not in seen:
            raise ValueError(f"output: unknown step '{self.output}'")
        return self

    @property
    def output_step(self) -> str:
        return self.output or self.steps[-1].name


class GatewayConfig(_Strict):
    providers: Annotated[dict[str, ProviderConfig], Field(min_length=1)]
    routes: dict[str, RouteConfig] = {}
    default_route: RouteConfig
    default_max_tokens: Annotated[int, Field(ge=1)] = 1024  # when a request gives none (Anthropic needs one)
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    timeouts: TimeoutConfig = TimeoutConfig()
    pipelines: dict[Name, PipelineConfig] = {}
    price_table: str | None = None  # a price table file; the embedded one (or $SWITCHBOARD_PRICES) by default
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _targets_exist(self) -> GatewayConfig:
        chains = {f"routes.{name}": route.targets for name, route in self.routes.items()}
        chains["default_route"] = self.default_route.targets
        for name, pipeline in self.pipelines.items():
            for index, step in enumerate(pipeline.steps):
                chains[f"pipelines.{name}.steps[{index}] ({step.name}).targets"] = step.targets
        for where, chain in chains.items():
            seen: set[str] = set()
            for index, target in enumerate(chain):
                provider = self.providers.get(target.provider)
                if provider is None:
                    raise ValueError(
                        f"{where}[{index}]: unknown provider '{target.provider}' "
                        f"(known: {', '.join(sorted(self.providers))})"
                    )
                if target.model not in provider.models:
                    raise ValueError(
                        f"{where}[{index}]: model '{target.model}' is not listed under "
                        f"providers.{target.provider}.models"
                    )
                if target.key in seen:
                    raise ValueError(f"{where}[{index}]: '{target.key}' appears twice in the chain")
                seen.add(target.key)
        table = self.prices()
        for name, provider in self.providers.items():
            for model, price in provider.models.items():
                if price is None and table.get(name, model) is None:
                    raise ValueError(f"providers.{name}.models.{model}: no price in the price table "
                                     f"(version {table.version}); give one inline")
        if self.timeouts.request_s > self.timeouts.max_request_s:
            raise ValueError("timeouts.request_s: must not exceed timeouts.max_request_s")
        return self

    def all_routes(self) -> list[RouteConfig]:
        return [*self.routes.values(), self.default_route]

    def prices(self) -> PriceTable:
        return _price_table(self.price_table)

    def price(self, provider: str, model: str) -> ModelPrice:
        inline = self.providers[provider].models[model]
        price = inline if inline is not None else self.prices().get(provider, model)
        assert price is not None  # checked when the config was loaded
        return price


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        parts = [str(part) for part in item["loc"]]
        if parts[:1] in (["routes"], ["default_route"]) and "targets" in parts:
            parts.remove("targets")  # a route is usually written as a bare list
        where = ".".join(parts)
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


_tables: dict[str | None, PriceTable] = {}


def _price_table(path: str | None) -> PriceTable:
    if path not in _tables:
        try:
            _tables[path] = load_price_table(path)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise ValueError(f"price_table: cannot load {path or 'the embedded price table'}: {error}") from None
    return _tables[path]


def default_config_data() -> dict[str, object]:
    """The embedded defaults as plain data (the infrastructure renders stack configs from them)."""
    return yaml.safe_load(resources.files("switchboard").joinpath(DEFAULT_CONFIG).read_text())


def parse_config(data: object, source: str = "<config>") -> GatewayConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None


def load_config(path: str | Path | None = None) -> GatewayConfig:
    """Load `path`, else $SWITCHBOARD_CONFIG, else the embedded defaults."""
    path = path or os.environ.get(CONFIG_ENV) or None
    if path is None:
        text = resources.files("switchboard").joinpath(DEFAULT_CONFIG).read_text()
        source = f"embedded {DEFAULT_CONFIG}"
    else:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML ({error})") from None
    return parse_config(data, source)
