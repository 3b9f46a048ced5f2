"""Switchboard: an LLM routing gateway."""

from switchboard.gateway import GatewayError, Switchboard
from switchboard.schema import CompleteRequest, CompletionResponse

__all__ = ["CompleteRequest", "CompletionResponse", "GatewayError", "Switchboard"]
