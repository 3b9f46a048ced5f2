"""Switchboard: an LLM routing gateway."""

from switchboard.client import Switchboard
from switchboard.errors import GatewayError
from switchboard.flow import StreamFailed, StreamFinished, StreamStarted
from switchboard.providers.base import TextDelta, ToolCallDelta
from switchboard.schema import CompleteRequest, CompletionResponse

__all__ = ["CompleteRequest", "CompletionResponse", "GatewayError", "StreamFailed", "StreamFinished",
           "StreamStarted", "Switchboard", "TextDelta", "ToolCallDelta"]
