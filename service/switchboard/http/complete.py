"""Switchboard's own front door: `POST /complete` (the standard response) and `POST /decide` (the dry run).

Streamed, `/complete` answers server-sent events: `start`, `delta` (text), `tool_call` (a piece of a tool
call), then `end` (the standard response without its text) or `error` (code, message, finish_reason
`error`, route).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from switchboard.core.context import RequestContext
from switchboard.core.events import (
    StreamFailed,
    StreamFinished,
    StreamItem,
    StreamStarted,
    TextDelta,
    ToolCallDelta,
)
from switchboard.core.request import Request
from switchboard.core.response import CompletionResponse
from switchboard.flow import Decide
from switchboard.http import sse
from switchboard.http.doors import Encoded, Incoming, parse_body
from switchboard.schema import CompleteRequest


class CompleteDoor:
    name = "complete"

    def parse(self, body: bytes, incoming: Incoming) -> Request:
        return parse_body(CompleteRequest, body).to_request()

    def encode(self, ctx: RequestContext, request: Any, result: CompletionResponse) -> Encoded:
        return 200, {}, result.model_dump_json(exclude_none=False).encode()


    async def stream(self, ctx: RequestContext, request: Request, first: StreamStarted,
                     items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]:
        yield sse.event("start", {"id": first.id, "provider": first.provider, "model": first.model,
                                  "task_type": first.task_type})
        async for item in items:
            if isinstance(item, TextDelta):
                if item.choice == 0:
                    yield sse.event("delta", {"text": item.text})
            elif isinstance(item, ToolCallDelta):
                if item.choice == 0:
                    call: dict[str, Any] = {"index": item.index, "arguments": item.arguments}
                    if item.id is not None:
                        call.update(id=item.id, name=item.name)
                    yield sse.event("tool_call", call)
            elif isinstance(item, StreamFinished):
                yield sse.event("end", item.response.model_dump(mode="json", exclude={"text"}))
            elif isinstance(item, StreamFailed):
                body = item.error.body
                yield sse.event("error", {"code": body.error.code, "message": body.error.message,
                                          "finish_reason": "error",
                                          "route": body.route.model_dump(mode="json") if body.route else None})


class DecideDoor:
    """Same body as /complete; answers the chain, the rule that chose it, the reason and the classifier's view."""

    name = "decide"

    def parse(self, body: bytes, incoming: Incoming) -> Decide:
        return Decide(parse_body(CompleteRequest, body).to_request())

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, result.model_dump_json().encode()

