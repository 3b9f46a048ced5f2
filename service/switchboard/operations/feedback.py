"""Feedback on an answer: a score in 0–1 or a thumbs up/down, on one of the caller's own requests, recorded as
its own log line (`"record": "feedback"`, checksummed like a request line) and as metrics. The savings report
joins it to the request it rates, so an operator sees how answers from strong and cheap targets were judged
before turning the cost–quality dial.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard.callers.request_ids import bare_id
from switchboard.core.caller import Caller
from switchboard.core.errors import GatewayError
from switchboard.logs import now_iso, write_record
from switchboard.telemetry import metrics

RECORD = "feedback"
MAX_COMMENT = 2000


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    request_id: Annotated[str, Field(min_length=1, max_length=64)]
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    thumbs: Literal["up", "down"] | None = None
    comment: Annotated[str, Field(max_length=MAX_COMMENT)] | None = None

    @model_validator(mode="after")
    def _rated(self) -> Feedback:
        if self.score is None and self.thumbs is None:
            raise ValueError("score: give a score (0 to 1) or thumbs (up or down)")
        return self

    @property
    def value(self) -> float:
        """The rating as a number: the score, else thumbs up 1 and down 0."""
        if self.score is not None:
            return self.score
        return 1.0 if self.thumbs == "up" else 0.0


def checksum(request_id: str, timestamp: str, value: float) -> str:
    return format(zlib.crc32(f"feedback|{request_id}|{timestamp}|{value!r}".encode()), "08x")


def is_feedback(record: dict[str, Any]) -> bool:
    """A feedback record the gateway wrote: its marker and a checksum that matches."""
    if record.get("record") != RECORD or record.get("event") != RECORD:
        return False
    try:
        expected = checksum(str(record["request_id"]), str(record["timestamp"]), float(record["value"]))
    except (KeyError, TypeError, ValueError):
        return False
    return record.get("sum") == expected


def record_feedback(caller: Caller, feedback: Feedback, owned: bool) -> dict[str, Any]:
    """Record feedback on one of `caller`'s own requests (`owned`: its id is one we gave this tenant); else the
    404 a request that does not exist gets, so another tenant's ids stay unconfirmed."""
    request_id = bare_id(feedback.request_id)
    if not owned:
        raise GatewayError(404, "unknown_request", f"no request '{feedback.request_id[:64]}' of yours",
                           field="request_id")
    timestamp = now_iso()
    value = feedback.value
    record = {"record": RECORD, "request_id": request_id, "tenant": caller.tenant, "key_id": caller.key_id,
              "value": value, "score": feedback.score, "thumbs": feedback.thumbs, "comment": feedback.comment,
              "timestamp": timestamp, "sum": checksum(request_id, timestamp, value)}
    write_record(RECORD, dict(record))
    metrics.child(metrics.FEEDBACK, feedback.thumbs or "score", metrics.tenant_label(caller.tenant)).inc()
    metrics.FEEDBACK_SCORE.observe(value)
    return {"request_id": request_id, "recorded": True, "value": value}
