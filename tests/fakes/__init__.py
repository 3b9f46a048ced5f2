"""Fake provider servers that speak the real wire protocols over real HTTP."""

from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.cohere_fake import CohereFake
from tests.fakes.openai_fake import OpenAIFake, VLLMFake
from tests.fakes.server import FakeProvider, Reply, ToolCall, count_tokens, embedding_for

__all__ = [
    "AnthropicFake",
    "CohereFake",
    "FakeProvider",
    "OpenAIFake",
    "Reply",
    "ToolCall",
    "VLLMFake",
    "count_tokens",
    "embedding_for",
]
