"""The provider registry: every wire protocol ("kind") Switchboard speaks, defined once.

Config validation (which kinds exist, which variables hold their keys and URLs), telemetry (`gen_ai.system`)
and the infrastructure (which provider keys get a Secrets Manager secret) all derive from this table. Adding a
protocol is one adapter module under `providers/` and one entry here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from switchboard.core.capability import Capability


@dataclass(frozen=True, slots=True)
class ProviderKind:
    name: str
    gen_ai_system: str  # the OpenTelemetry GenAI `gen_ai.system` value
    api_key_env: str | None  # the variable the official SDK reads for the key
    base_url_env: str | None  # ... and for the base URL
    base_url: str | None  # the public endpoint; None for self-hosted servers
    key_required: bool  # a hosted API: without a key the target is skipped (and infra stores one)
    # What the wire protocol can express; a model may declare less, never more.
    capabilities: frozenset[Capability]
    adapter: str  # "module:Class" of its adapter, imported when a provider of this kind is built
    embeddings: bool = False  # the protocol has an embeddings endpoint


_ALL = frozenset(Capability)

KINDS: dict[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        ProviderKind("openai", "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1", True,
                     _ALL, "switchboard.providers.openai:OpenAIAdapter", embeddings=True),
        ProviderKind("anthropic", "anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                     "https://api.anthropic.com", True,
                     frozenset({Capability.TOOLS, Capability.VISION, Capability.JSON_SCHEMA, Capability.REASONING}),
                     "switchboard.providers.anthropic:AnthropicAdapter"),
        ProviderKind("cohere", "cohere", "CO_API_KEY", "CO_API_URL", "https://api.cohere.com", True,
                     frozenset({Capability.TOOLS, Capability.VISION, Capability.JSON_SCHEMA, Capability.LOGPROBS,
                                Capability.SEED, Capability.PENALTIES, Capability.REASONING}),
                     "switchboard.providers.cohere:CohereAdapter", embeddings=True),
        # vLLM, llama.cpp and any other OpenAI-compatible server: the self-hosted tier.
        ProviderKind("openai_compatible", "vllm", "VLLM_API_KEY", "VLLM_BASE_URL", None, False, _ALL,
                     "switchboard.providers.openai:OpenAICompatibleAdapter", embeddings=True),
    )
}


def hosted_kinds() -> list[ProviderKind]:
    """The kinds whose API needs a key of ours (the ones the infrastructure keeps in Secrets Manager)."""
    return [kind for kind in KINDS.values() if kind.key_required]


def adapter_class(kind: str) -> Any:
    """The adapter class of a kind (imported here, so the registry itself imports nothing)."""
    module, _, name = KINDS[kind].adapter.partition(":")
    return getattr(importlib.import_module(module), name)
