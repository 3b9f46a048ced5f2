"""Providers and their models: where to reach them, what each model can serve, what it costs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from switchboard.config.base import Strict
from switchboard.core.capability import Capability
from switchboard.pricing import ModelPrice
from switchboard.providers.registry import KINDS, ProviderKind

PRICE_FIELDS = ("input", "output", "cached_input", "cache_write")
# The parameters a target may silently drop, when its config allows it (tools and response formats: never).
DROPPABLE = frozenset({Capability.SEED, Capability.PENALTIES, Capability.LOGIT_BIAS, Capability.REASONING,
                       Capability.LOGPROBS})


class ModelSettings(Strict):
    """A model: inline price (self-hosted models), what it can serve, and its limits."""

    input: Annotated[float, Field(ge=0)] | None = None  # USD per million tokens; else the price table
    output: Annotated[float, Field(ge=0)] | None = None
    cached_input: Annotated[float, Field(ge=0)] | None = None
    cache_write: Annotated[float, Field(ge=0)] | None = None
    capabilities: list[Capability] | None = None  # default: all the provider kind's protocol can express
    context_window: Annotated[int, Field(ge=1)] | None = None  # tokens; longer prompts skip this target
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None  # a request's max_tokens is capped at this
    embedding: bool = False  # an embedding model: served by /v1/embeddings, never by chat
    dimensions: Annotated[int, Field(ge=1)] | None = None  # an embedding model's default vector size

    @model_validator(mode="after")
    def _whole_price(self) -> ModelSettings:
        if (self.input is None) != (self.output is None):
            raise ValueError("give both input and output prices, or neither")
        return self

    def price(self) -> ModelPrice | None:
        if self.input is None or self.output is None:
            return None
        return ModelPrice(input=self.input, output=self.output, cached_input=self.cached_input,
                          cache_write=self.cache_write)


class ProviderConfig(Strict):
    kind: str
    base_url: str | None = None  # default: the kind's public endpoint
    base_url_env: str | None = None  # default: the variable the official SDK reads
    api_key_env: str | None = None
    api_key_required: bool | None = None  # default: the kind's (hosted APIs need one)
    embedded: bool = False  # start the embedded llama.cpp server when no base URL is set
    drop: list[Capability] = []  # parameters this provider's models may drop when they cannot honour them
    models: Annotated[dict[str, ModelSettings], Field(min_length=1)]

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind '{value}' (known: {', '.join(KINDS)})")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _names_alone(cls, value: object) -> object:
        if isinstance(value, list):
            return dict.fromkeys(value, {})
        if isinstance(value, dict):
            return {name: settings if settings is not None else {} for name, settings in value.items()}
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("drop")
    @classmethod
    def _droppable(cls, value: list[Capability]) -> list[Capability]:
        for capability in value:
            if capability not in DROPPABLE:
                raise ValueError(f"'{capability}' cannot be dropped (droppable: "
                                 f"{', '.join(sorted(DROPPABLE))})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProviderConfig:
        if self.embedded and self.kind != "openai_compatible":
            raise ValueError("embedded is only for kind openai_compatible")
        registry = self.registry
        for name, model in self.models.items():
            for capability in model.capabilities or ():
                if capability not in registry.capabilities:
                    raise ValueError(f"models.{name}.capabilities: the {self.kind} protocol cannot express "
                                     f"'{capability}'")
            if model.embedding and not registry.embeddings:
                raise ValueError(f"models.{name}.embedding: the {self.kind} protocol has no embeddings endpoint")
        return self

    @property
    def registry(self) -> ProviderKind:
        return KINDS[self.kind]

    @property
    def key_env(self) -> str | None:
        return self.api_key_env or self.registry.api_key_env

    @property
    def url_env(self) -> str | None:
        return self.base_url_env or self.registry.base_url_env

    @property
    def key_required(self) -> bool:
        return self.registry.key_required if self.api_key_required is None else self.api_key_required

    def resolved_base_url(self, env: Mapping[str, str]) -> str | None:
        url = (env.get(self.url_env) if self.url_env else None) or self.base_url or (
            None if self.embedded else self.registry.base_url)
        return url.rstrip("/") if url else None

    def resolved_api_key(self, env: Mapping[str, str]) -> str | None:
        return (env.get(self.key_env) or None) if self.key_env else None

    def capabilities(self, model: str) -> frozenset[Capability]:
        declared = self.models[model].capabilities
        return self.registry.capabilities if declared is None else frozenset(declared)
