"""One adapter per wire protocol."""

from switchboard.providers.anthropic import AnthropicAdapter
from switchboard.providers.base import (
    Adapter,
    Completion,
    ProviderCall,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from switchboard.providers.cohere import CohereAdapter
from switchboard.providers.openai import OpenAIAdapter, OpenAICompatibleAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    cls.kind: cls for cls in (OpenAIAdapter, OpenAICompatibleAdapter, AnthropicAdapter, CohereAdapter)
}

__all__ = [
    "ADAPTERS",
    "Adapter",
    "Completion",
    "ProviderCall",
    "ProviderError",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
]
