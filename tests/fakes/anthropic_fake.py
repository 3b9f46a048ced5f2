"""Anthropic Messages as a fake server."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeProvider, Reply

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicFake(FakeProvider):
    path = "/v1/messages"
    name = "anthropic"

    def auth_ok(self, request: web.Request) -> bool:
        # The API takes the key as `x-api-key` or as a bearer token (newer SDKs send the latter).
        presented = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        return presented == self.api_key and "anthropic-version" in request.headers

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": request_json.get("model"),
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.finish or "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": reply.cached_tokens,
                "service_tier": "standard",
            },
        }

    def error_body(self, reply: Reply) -> Any:
        return {
            "type": "error",
            "error": {"type": reply.error_type or ERROR_TYPES.get(reply.status, "api_error"),
                      "message": reply.error_message},
            "request_id": f"req_{uuid.uuid4().hex[:20]}",
        }
