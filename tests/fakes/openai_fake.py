"""OpenAI Chat Completions (and vLLM / llama.cpp, which speak it) as a fake server."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeProvider, Reply, frame

ERROR_TYPES = {401: "invalid_request_error", 429: "requests", 500: "server_error", 503: "server_error"}
ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 500: "server_error"}


class OpenAIFake(FakeProvider):
    path = "/v1/chat/completions"
    name = "openai"

    def auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def auth_error_reply(self) -> Reply:
        return Reply(
            status=401,
            error_type="invalid_request_error",
            error_message=f"Incorrect API key provided: {self._presented_key_hint()}",
        )

    def _presented_key_hint(self) -> str:
        presented = (self.received[-1].headers.get("Authorization", "") if self.received else "")[7:]
        return f"{presented[:8]}***{presented[-4:]}" if presented else "(none)"

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request_json.get("model") or "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": reply.finish or "stop",
                }
            ],
            "usage": None if reply.no_usage else {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
                "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    # -- streaming: `data:` chunks, an optional usage chunk, then [DONE] --------------------------
    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return frame({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                      "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                      "obfuscation": "x1", **extra})

    def stream_prelude(self, reply: Reply, request_json: Any) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def stream_content(self, piece: str, index: int) -> bytes:
        return self._chunk({"content": piece})

    def stream_ending(self, reply: Reply, request_json: Any) -> list[bytes]:
        frames = [self._chunk({}, reply.finish or "stop")]
        if (request_json.get("stream_options") or {}).get("include_usage"):
            usage = self.success_body(reply, request_json)["usage"]
            frames.append(frame({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                                 "model": "fake", "choices": [], "usage": usage}))
        return [*frames, b"data: [DONE]\n\n"]

    def stream_error(self, reply: Reply) -> list[bytes]:
        return [frame({"error": {"message": reply.error_message, "type": "server_error", "param": None,
                                 "code": None}}), b"data: [DONE]\n\n"]

    def error_body(self, reply: Reply) -> Any:
        return {
            "error": {
                "message": reply.error_message,
                "type": reply.error_type or ERROR_TYPES.get(reply.status, "invalid_request_error"),
                "param": None,
                "code": reply.error_code or ERROR_CODES.get(reply.status),
            }
        }


class VLLMFake(OpenAIFake):
    """vLLM: auth only when started with a key; a 401 body whose `error` is a string; int error codes."""

    name = "vllm"

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__(api_key or "")

    def auth_ok(self, request: web.Request) -> bool:
        return not self.api_key or super().auth_ok(request)

    def auth_error_reply(self) -> Reply:
        return Reply(status=401, body={"error": "Unauthorized"})

    def error_body(self, reply: Reply) -> Any:
        return {"error": {"message": reply.error_message, "type": "InternalServerError", "param": None,
                          "code": reply.status}}
