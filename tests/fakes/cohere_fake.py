"""Cohere Chat v2 as a fake server."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeProvider, Reply


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
