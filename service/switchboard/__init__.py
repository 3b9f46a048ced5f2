"""Switchboard: an LLM routing gateway."""

from switchboard.client import Switchboard
from switchboard.core.errors import GatewayError
from switchboard.core.events import StreamFailed, StreamFinished, StreamStarted, TextDelta, ToolCallDelta
from switchboard.core.response import CompletionResponse
from switchboard.schema import CompleteRequest

__all__ = ["CompleteRequest", "CompletionResponse", "GatewayError", "StreamFailed", "StreamFinished",
           "StreamStarted", "Switchboard", "TextDelta", "ToolCallDelta"]
