"""`POST /feedback`: a caller rates one of its own answers (`request_id`: the response's id, or its bare id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from switchboard.core.context import RequestContext
from switchboard.http.doors import Encoded, Incoming, parse_body
from switchboard.operations.feedback import Feedback, record_feedback
from switchboard.wiring import Runtime


@dataclass(frozen=True, slots=True)
class GiveFeedback:
    feedback: Feedback

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        owned = runtime.auth.ids.owned(self.feedback.request_id, ctx.caller.tenant)
        return record_feedback(ctx.caller, self.feedback, owned)


class FeedbackDoor:
    name = "feedback"

    def parse(self, body: bytes, incoming: Incoming) -> GiveFeedback:
        return GiveFeedback(parse_body(Feedback, body))

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 202, {}, orjson.dumps(result)
