"""Cohere Chat v2 as a fake server."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeProvider, Reply, frame


class CohereFake(FakeProvider):
    path = "/v2/chat"
    name = "cohere"

    def auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        return {
            "id": str(uuid.uuid4()),
            "message": {"role": "assistant", "content": [{"type": "text", "text": reply.text}]},
            "finish_reason": reply.finish or "COMPLETE",
            "usage": {
                "billed_units": {"input_tokens": float(reply.input_tokens), "output_tokens": float(reply.output_tokens)},
                "tokens": {"input_tokens": reply.input_tokens + 60, "output_tokens": reply.output_tokens},
                "cached_tokens": reply.cached_tokens,
            },
        }

    def error_body(self, reply: Reply) -> Any:
        return {"id": str(uuid.uuid4()), "message": reply.error_message}

    # -- streaming: typed events, message-end with usage, then [DONE] -----------------------------
    def stream_prelude(self, reply: Reply, request_json: Any) -> list[bytes]:
        return [
            frame({"id": "fake-id", "type": "message-start", "delta": {"message": {
                "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}},
                "message-start"),
            frame({"type": "content-start", "index": 0,
                   "delta": {"message": {"content": {"type": "text", "text": ""}}}}, "content-start"),
        ]

    def stream_content(self, piece: str, index: int) -> bytes:
        return frame({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}},
                     "content-delta")

    def stream_ending(self, reply: Reply, request_json: Any) -> list[bytes]:
        usage = self.success_body(reply, request_json)["usage"]
        return [
            frame({"type": "content-end", "index": 0}, "content-end"),
            frame({"type": "message-end", "delta": {"finish_reason": reply.finish or "COMPLETE", "usage": usage}},
                  "message-end"),
            b"data: [DONE]\n\n",
        ]

    def stream_error(self, reply: Reply) -> list[bytes]:
        return [frame({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": reply.error_message}},
                      "message-end"), b"data: [DONE]\n\n"]
