"""Anthropic Messages as a fake server."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeProvider, Reply, ToolCall, fragments, frame

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

# Body fields the API takes: anthropic-sdk-python 2.14 `MessageCreateParamsBase`, plus `stream` and the sampling
# parameters older SDKs type (temperature, top_p, top_k). Anything else: "<field>: Extra inputs are not permitted".
FIELDS = frozenset({
    "cache_control", "container", "context_management", "diagnostics", "inference_geo", "max_tokens", "mcp_servers",
    "messages", "metadata", "model", "output_config", "service_tier", "speed", "stop_sequences", "stream", "system",
    "temperature", "thinking", "tool_choice", "tools", "top_k", "top_p", "user_profile_id", "workspace_id",
})
BLOCK_TYPES = ("text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use",
               "tool_result", "server_tool_use", "web_search_tool_result", "container_upload")
MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def claude_version(model: str) -> tuple[tuple[int, int], str]:
    """((major, minor), family) of a Claude model id: `claude-sonnet-4-6`, `claude-3-7-sonnet-20250219`,
    `claude-haiku-4-5-20251001`, `claude-sonnet-4-20250514` (4.0); (0, 0) when it names no version."""
    words = model.lower().split("-")
    numbers = [int(word) for word in words if word.isdigit() and len(word) < 8]
    family = next((word for word in words[1:] if word.isalpha() and word != "preview"), "")
    return ((numbers[0], numbers[1] if len(numbers) > 1 else 0) if numbers else (0, 0)), family


def new_tool_use_id() -> str:
    number = uuid.uuid4().int
    digits = []
    for _ in range(22):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "toolu_01" + "".join(digits)


class AnthropicFake(FakeProvider):
    path = "/v1/messages"
    name = "anthropic"
    status_faults = ("429_retry_after", "429", "500", "503", "529")

    def auth_ok(self, request: web.Request) -> bool:
        # The API takes the key as `x-api-key` or as a bearer token (newer SDKs send the latter).
        presented = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        return presented == self.api_key and "anthropic-version" in request.headers

    @staticmethod
    def _calls(reply: Reply) -> list[tuple[str, ToolCall]]:
        return [(call.id or new_tool_use_id(), call) for call in reply.tool_calls or ()]

    @staticmethod
    def _stop_reason(reply: Reply, has_calls: bool) -> str:
        return reply.finish or ("tool_use" if has_calls else "end_turn")

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        calls = self._calls(reply)
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text or not calls else []
        content += [{"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments_object()}
                    for call_id, call in calls]
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": request_json.get("model"),
            "content": content,
            "stop_reason": self._stop_reason(reply, bool(calls)),
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

    # -- streaming: named events in the exact order of the SDK's fixtures -------------------------
    def stream_frames(self, reply: Reply, request_json: Any) -> tuple[list[bytes], list[bytes], list[bytes]]:
        calls = self._calls(reply)
        pieces = reply.pieces()
        has_text = bool(pieces) or not calls
        start = {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
            "model": request_json.get("model"), "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": reply.cache_write_tokens,
                      "cache_read_input_tokens": reply.cached_tokens}}}
        prelude = [frame(start, "message_start")]
        if has_text:
            prelude.append(frame({"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}, "content_block_start"))
        prelude.append(frame({"type": "ping"}, "ping"))
        content = [frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                         "content_block_delta") for piece in pieces]
        # A block's stop goes out with whatever comes next (the next block's start, or the ending).
        pending_stop = frame({"type": "content_block_stop", "index": 0}, "content_block_stop") if has_text else b""
        for position, (call_id, call) in enumerate(calls):
            index = position + has_text
            opening = {"type": "content_block_start", "index": index,
                       "content_block": {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}}
            content.append(pending_stop + frame(opening, "content_block_start") + self._json_delta(index, ""))
            content.extend(self._json_delta(index, piece) for piece in fragments(call.arguments_json()) if piece)
            pending_stop = frame({"type": "content_block_stop", "index": index}, "content_block_stop")
        ending = [
            pending_stop,
            frame({"type": "message_delta",
                   "delta": {"stop_reason": self._stop_reason(reply, bool(calls)), "stop_sequence": None},
                   "usage": {"output_tokens": reply.output_tokens}}, "message_delta"),
            frame({"type": "message_stop"}, "message_stop"),
        ]
        return prelude, content, ending

    @staticmethod
    def _json_delta(index: int, partial: str) -> bytes:
        return frame({"type": "content_block_delta", "index": index,
                      "delta": {"type": "input_json_delta", "partial_json": partial}}, "content_block_delta")

    def stream_error(self, reply: Reply) -> list[bytes]:
        return [frame({"type": "error", "error": {"type": reply.error_type or "overloaded_error",
                                                  "message": reply.error_message}}, "error")]

    # -- request checks (PROTOCOLS-TOOLS.md §1, §2, §4, §5, §6, §11) --------------------------------
    @staticmethod
    def bad_request(message: str) -> Reply:
        return Reply(status=400, error_type="invalid_request_error", error_message=message)

    def check_chat(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("There was an issue with your request body: it is not valid JSON.")
        for key in body:
            if key not in FIELDS:
                return self.bad_request(f"{key}: Extra inputs are not permitted")
        for required in ("model", "max_tokens", "messages"):
            if body.get(required) is None:
                return self.bad_request(f"{required}: Field required")
        return (
            self._check_sampling(body)
            or self._check_system(body.get("system"))
            or self._check_tools(body)
            or self._check_messages(body["messages"])
            or self._check_output_config(body.get("output_config"))
        )

    def _check_sampling(self, body: dict[str, Any]) -> Reply | None:
        temperature = body.get("temperature")
        if isinstance(temperature, (int, float)):
            if temperature > 1:
                return self.bad_request("temperature: Input should be less than or equal to 1")
            if temperature < 0:
                return self.bad_request("temperature: Input should be greater than or equal to 0")
        return self._check_model_rules(body)

    def _check_model_rules(self, body: dict[str, Any]) -> Reply | None:
        """What each Claude generation refuses (PROTOCOLS-TOOLS.md §6; the extended-thinking, adaptive-thinking
        and effort docs): sampling on 4.7 and later, temperature with top_p from 4.1, a thinking form the model
        lacks, a budget outside [1024, max_tokens), sampling with thinking, an effort level it lacks."""
        version, family = claude_version(str(body.get("model", "")))
        adaptive_only = version >= (4, 7) or family in ("mythos", "fable")
        sampling = [name for name in ("temperature", "top_p", "top_k") if body.get(name) is not None]
        if adaptive_only and sampling:
            return self.bad_request(f"`{sampling[0]}` is deprecated for this model.")
        if version >= (4, 1) and "temperature" in sampling and "top_p" in sampling:
            return self.bad_request("`temperature` and `top_p` cannot both be specified for this model. Please use "
                                    "only one.")
        thinking = body.get("thinking") or {}
        kind = thinking.get("type")
        if kind == "enabled":
            if adaptive_only:
                return self.bad_request('"thinking.type.enabled" is not supported for this model. Use '
                                        '"thinking.type.adaptive" and "output_config.effort" to control thinking '
                                        "behavior.")
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return self.bad_request("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if budget >= body.get("max_tokens", 0):
                return self.bad_request("`max_tokens` must be greater than `thinking.budget_tokens`.")
        elif kind == "adaptive" and version < (4, 6) and family not in ("mythos", "fable"):
            return self.bad_request('"thinking.type.adaptive" is not supported for this model.')
        if kind in ("enabled", "adaptive") and (body.get("temperature") not in (None, 1) or
                                                body.get("top_k") is not None):
            return self.bad_request("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.")
        effort = (body.get("output_config") or {}).get("effort")
        if effort is not None:
            levels = ("low", "medium", "high", "xhigh", "max") if adaptive_only else \
                ("low", "medium", "high", "max") if version >= (4, 6) else \
                ("low", "medium", "high") if family == "opus" and version >= (4, 5) else ()
            if effort not in levels:
                return self.bad_request(f"output_config.effort: '{effort}' is not supported for this model.")
        return None

    def _check_system(self, system: Any) -> Reply | None:
        if isinstance(system, list):
            for j, block in enumerate(system):
                if not isinstance(block, dict) or block.get("type") != "text":
                    return self.bad_request(f"system.{j}.type: Input should be 'text'")
                problem = self._check_text(block)
                if problem:
                    return self.bad_request(f"system: {problem}")
        return None

    @staticmethod
    def _check_text(block: dict[str, Any]) -> str | None:
        text = block.get("text")
        if not isinstance(text, str) or not text:
            return "text content blocks must be non-empty"
        if not text.strip():
            return "text content blocks must contain non-whitespace text"
        return None

    def _check_tools(self, body: dict[str, Any]) -> Reply | None:
        tools = body.get("tools") or []
        names = set()
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict):
                return self.bad_request(f"tools.{k}: Input should be a valid dictionary")
            if tool.get("type") not in (None, "custom"):
                continue  # a server tool (web_search_…, bash_…): its own shape
            name = tool.get("name")
            if not isinstance(name, str) or not TOOL_NAME.match(name):
                return self.bad_request(
                    f"tools.{k}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            names.add(name)
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                return self.bad_request(f"tools.{k}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                return self.bad_request(f"tools.{k}.custom.input_schema.type: Input should be 'object'")
        choice = body.get("tool_choice")
        if choice is None:
            return None
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            return self.bad_request(f"tool_choice: Input tag '{kind}' found using 'type' does not match any of the "
                                    "expected tags: 'auto', 'any', 'tool', 'none'")
        if not tools and kind != "none":
            return self.bad_request("tool_choice may only be specified while providing tools.")
        if kind == "tool" and choice.get("name") not in names:
            return self.bad_request(f"tool_choice.name: Tool '{choice.get('name')}' not found in provided tools")
        thinking = body.get("thinking") or {}
        if kind in ("any", "tool") and thinking.get("type") in ("enabled", "adaptive"):
            return self.bad_request("Thinking may not be enabled when tool_choice forces tool use.")
        return None

    def _check_messages(self, messages: Any) -> Reply | None:
        if not isinstance(messages, list):
            return self.bad_request("messages: Input should be a valid list")
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role == "system":
                return self.bad_request(
                    'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                    'not "system" as an input message role.')
            if role not in ("user", "assistant"):
                return self.bad_request(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            content = message.get("content")
            final_assistant = role == "assistant" and i == len(messages) - 1
            if not content and not final_assistant:
                return self.bad_request(
                    f"messages.{i}: all messages must have non-empty content except for the optional final "
                    "assistant message")
            if isinstance(content, list):
                for j, block in enumerate(content):
                    problem = self._check_block(block, role, f"messages.{i}.content.{j}")
                    if problem:
                        return problem
            elif content is not None and not isinstance(content, str):
                return self.bad_request(f"messages.{i}.content: Input should be a valid string or list")
        return self._check_tool_pairs(messages)

    def _check_block(self, block: Any, role: str, where: str) -> Reply | None:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            tags = ", ".join(f"'{t}'" for t in BLOCK_TYPES)
            return self.bad_request(
                f"{where}.type: Input tag '{kind}' found using 'type' does not match any of the expected tags: {tags}")
        if kind == "text":
            problem = self._check_text(block)
            return self.bad_request(f"messages: {problem}") if problem else None
        if kind == "image":
            return self._check_image(block, where)
        if kind == "tool_use":
            if role != "assistant":
                return self.bad_request(f"{where}: `tool_use` blocks can only be in `assistant` messages")
            if not isinstance(block.get("id"), str) or not TOOL_ID.match(block["id"]):
                return self.bad_request(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            if not isinstance(block.get("name"), str) or not TOOL_NAME.match(block["name"]):
                return self.bad_request(
                    f"{where}.tool_use.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            if not isinstance(block.get("input"), dict):
                return self.bad_request(f"{where}.tool_use.input: Input should be a valid dictionary")
        if kind == "tool_result":
            if role != "user":
                return self.bad_request(f"{where}: `tool_result` blocks can only be in `user` messages")
            if not isinstance(block.get("tool_use_id"), str) or not TOOL_ID.match(block["tool_use_id"]):
                return self.bad_request(
                    f"{where}.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            inner = block.get("content")
            if isinstance(inner, list):
                for k, part in enumerate(inner):
                    part_kind = part.get("type") if isinstance(part, dict) else None
                    if part_kind not in ("text", "image", "document", "search_result"):
                        return self.bad_request(
                            f"{where}.tool_result.content.{k}.type: Input tag '{part_kind}' found using 'type' does "
                            "not match any of the expected tags: 'text', 'image', 'document', 'search_result'")
                    problem = self._check_block(part, role, f"{where}.tool_result.content.{k}")
                    if problem:
                        return problem
        return None

    def _check_image(self, block: dict[str, Any], where: str) -> Reply | None:
        source = block.get("source")
        kind = source.get("type") if isinstance(source, dict) else None
        if kind == "base64":
            if source.get("media_type") not in MEDIA_TYPES:
                return self.bad_request(f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', "
                                        "'image/png', 'image/gif' or 'image/webp'")
            data = source.get("data")
            try:
                if not isinstance(data, str) or data.startswith("data:"):
                    raise ValueError
                base64.b64decode(data, validate=True)
            except (ValueError, binascii.Error):
                return self.bad_request(f"{where}.image.source.base64.data: The image data is not valid base64 "
                                        "(send the bare base64, without a data: URI prefix)")
            return None
        if kind == "url":
            url = source.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return self.bad_request(f"{where}.image.source.url.url: URL must use the http or https scheme")
            return None
        if kind == "file":
            return None
        return self.bad_request(f"{where}.image.source: Input tag '{kind}' found using 'type' does not match any of "
                                "the expected tags: 'base64', 'url', 'file'")

    def _check_tool_pairs(self, messages: list[dict[str, Any]]) -> Reply | None:
        previous_ids: list[str] = []
        for i, message in enumerate(messages):
            blocks = message["content"] if isinstance(message.get("content"), list) else []
            if message["role"] == "user":
                leading = []
                for block in blocks:
                    if block.get("type") != "tool_result":
                        break
                    leading.append(block["tool_use_id"])
                for j, block in enumerate(blocks):
                    if block.get("type") == "tool_result" and block["tool_use_id"] not in previous_ids:
                        return self.bad_request(
                            f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                            f"{block['tool_use_id']}. Each `tool_result` block must have a corresponding `tool_use` "
                            "block in the previous message.")
                missing = [tool_id for tool_id in previous_ids if tool_id not in leading]
                if missing:
                    return self._unanswered(i - 1, missing)
                previous_ids = []
            else:
                if previous_ids:
                    return self._unanswered(i - 1, previous_ids)
                previous_ids = [b["id"] for b in blocks if b.get("type") == "tool_use"]
        if previous_ids:
            return self._unanswered(len(messages) - 1, previous_ids)
        return None

    def _unanswered(self, index: int, ids: list[str]) -> Reply:
        return self.bad_request(
            f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
            "message.")

    def _check_output_config(self, output_config: Any) -> Reply | None:
        if output_config is None:
            return None
        fmt = output_config.get("format") if isinstance(output_config, dict) else None
        if fmt is None:
            return None
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            kind = fmt.get("type") if isinstance(fmt, dict) else None
            return self.bad_request(f"output_config.format.type: Input should be 'json_schema' (got '{kind}')")
        if not isinstance(fmt.get("schema"), dict):
            return self.bad_request("output_config.format.schema: Field required")
        return None
