"""Anthropic Messages as a fake server."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeProvider, Reply, frame

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
                "cache_creation_input_tokens": reply.cache_write_tokens,
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

    # -- streaming: named events in the exact order of the SDK's fixture --------------------------
    def stream_prelude(self, reply: Reply, request_json: Any) -> list[bytes]:
        start = {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
            "model": request_json.get("model"), "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": reply.cache_write_tokens,
                      "cache_read_input_tokens": reply.cached_tokens}}}
        return [
            frame(start, "message_start"),
            frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                  "content_block_start"),
            frame({"type": "ping"}, "ping"),
        ]

    def stream_content(self, piece: str, index: int) -> bytes:
        return frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                     "content_block_delta")

    def stream_ending(self, reply: Reply, request_json: Any) -> list[bytes]:
        return [
            frame({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            frame({"type": "message_delta", "delta": {"stop_reason": reply.finish or "end_turn", "stop_sequence": None},
                   "usage": {"output_tokens": reply.output_tokens}}, "message_delta"),
            frame({"type": "message_stop"}, "message_stop"),
        ]

    def stream_error(self, reply: Reply) -> list[bytes]:
        return [frame({"type": "error", "error": {"type": reply.error_type or "overloaded_error",
                                                  "message": reply.error_message}}, "error")]
