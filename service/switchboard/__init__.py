"""Switchboard: an LLM routing gateway.

The library's names load on first use (PEP 562), so that `import switchboard.cli` (the `switchboard` command's
`--help` and `--version`) does not import the whole gateway; `from switchboard import Switchboard` works
as before.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.client import Switchboard
    from switchboard.core.errors import GatewayError
    from switchboard.core.events import StreamFailed, StreamFinished, StreamStarted, TextDelta, ToolCallDelta
    from switchboard.core.response import CompletionResponse
    from switchboard.schema import CompleteRequest

_WHERE = {
    "Switchboard": "switchboard.client",
    "GatewayError": "switchboard.core.errors",
    "StreamFailed": "switchboard.core.events",
    "StreamFinished": "switchboard.core.events",
    "StreamStarted": "switchboard.core.events",
    "TextDelta": "switchboard.core.events",
    "ToolCallDelta": "switchboard.core.events",
    "CompletionResponse": "switchboard.core.response",
    "CompleteRequest": "switchboard.schema",
}

__all__ = ["CompleteRequest", "CompletionResponse", "GatewayError", "StreamFailed", "StreamFinished",
           "StreamStarted", "Switchboard", "TextDelta", "ToolCallDelta"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'switchboard' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value  # once: later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
