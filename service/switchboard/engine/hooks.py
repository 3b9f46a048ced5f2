"""What the engine tells its subscribers (tracing, metrics): each attempt as it starts and as it ends.

The engine builds no spans and counts nothing itself; telemetry subscribes here. A subscriber's start hook
returns a token (a span, say) that it gets back at the end of the same attempt.
"""

from __future__ import annotations

from typing import Any, Protocol

from switchboard.core.context import RequestContext
from switchboard.core.response import Attempt
from switchboard.core.target import TargetRef


class Hooks(Protocol):
    def attempt_started(self, ctx: RequestContext, target: TargetRef, kind: str, operation: str) -> Any: ...

    def attempt_ended(self, ctx: RequestContext, attempt: Attempt, token: Any) -> None: ...


class NoHooks:
    def attempt_started(self, ctx: RequestContext, target: TargetRef, kind: str, operation: str) -> Any:
        return None

    def attempt_ended(self, ctx: RequestContext, attempt: Attempt, token: Any) -> None:
        pass
