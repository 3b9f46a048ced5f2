"""OpenAI Chat Completions and Embeddings (and vLLM / llama.cpp, which speak them) as a fake server."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import (
    FakeProvider,
    Reply,
    ToolCall,
    _embedding,
    count_tokens,
    float32_base64,
    fragments,
    frame,
    interleave,
    new_id,
    openai_logprob_entry,
    split_words,
)

ERROR_TYPES = {401: "invalid_request_error", 429: "requests", 500: "server_error", 503: "server_error"}
ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 500: "server_error"}

# Every body field the API takes (openai-python `CompletionCreateParamsBase`, plus `stream`).
CHAT_FIELDS = frozenset({
    "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
    "max_tokens", "messages", "metadata", "modalities", "model", "moderation", "n", "parallel_tool_calls",
    "prediction", "presence_penalty", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
    "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
    "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
    "web_search_options",
})
EMBED_FIELDS = frozenset({"dimensions", "encoding_format", "input", "model", "user"})
EMBEDDING_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PART_TYPES = {"user": ("text", "image_url", "input_audio", "file"), "assistant": ("text", "refusal")}


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


class OpenAIFake(FakeProvider):
    path = "/v1/chat/completions"
    embed_path = "/v1/embeddings"
    name = "openai"
    tool_call_prefix = "call_"

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

    def new_tool_call_id(self) -> str:
        return f"{self.tool_call_prefix}{new_id()}"

    def _calls(self, reply: Reply) -> list[tuple[str, ToolCall]]:
        return [(call.id or self.new_tool_call_id(), call) for call in reply.tool_calls or ()]

    def _finish(self, reply: Reply, request_json: Any, has_calls: bool) -> str:
        if reply.finish:
            return reply.finish
        # A tool_choice that names a function ends with "stop", not "tool_calls" (PROTOCOLS-TOOLS.md §2).
        named = isinstance(request_json.get("tool_choice"), dict)
        return "tool_calls" if has_calls and not named else "stop"

    @staticmethod
    def _n(request_json: Any) -> int:
        n = request_json.get("n")
        return n if isinstance(n, int) and n > 0 else 1

    @staticmethod
    def _top_logprobs(request_json: Any) -> int | None:
        """None when logprobs were not asked for, else how many alternatives each token gets."""
        if not request_json.get("logprobs"):
            return None
        return request_json.get("top_logprobs") or 0

    def usage(self, reply: Reply) -> dict[str, Any] | None:
        if reply.no_usage:
            return None
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        top = self._top_logprobs(request_json)
        choices = []
        for index, text in enumerate(reply.choice_texts(self._n(request_json))):
            calls = self._calls(reply)
            message: dict[str, Any] = {
                "role": "assistant",
                "content": text if text or not calls else None,
                "refusal": None,
                "annotations": [],
            }
            if calls:
                message["tool_calls"] = [
                    {"id": call_id, "type": "function",
                     "function": {"name": call.name, "arguments": call.arguments_json()}}
                    for call_id, call in calls
                ]
            logprobs = None
            if top is not None:
                logprobs = {"content": [openai_logprob_entry(t, top) for t in split_words(text)], "refusal": None}
            choices.append({"index": index, "message": message, "logprobs": logprobs,
                            "finish_reason": self._finish(reply, request_json, bool(calls))})
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request_json.get("model") or "fake-model",
            "choices": choices,
            "usage": self.usage(reply),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    # -- streaming: `data:` chunks per choice, an optional usage chunk, then [DONE] ----------------
    def _chunk(self, delta: dict[str, Any], finish: str | None = None, *, index: int = 0,
               logprobs: Any = None, **extra: Any) -> bytes:
        return frame({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                      "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
                      "obfuscation": "x1", **extra})

    def stream_frames(self, reply: Reply, request_json: Any) -> tuple[list[bytes], list[bytes], list[bytes]]:
        top = self._top_logprobs(request_json)
        prelude: list[bytes] = []
        per_choice: list[list[bytes]] = []
        ending: list[bytes] = []
        for index, pieces in enumerate(reply.choice_pieces(self._n(request_json))):
            calls = self._calls(reply)
            has_text = bool(pieces) or not calls
            if has_text:
                prelude.append(self._chunk({"role": "assistant", "content": ""}, index=index))
            items = [
                self._chunk({"content": piece}, index=index, logprobs=None if top is None else
                            {"content": [openai_logprob_entry(piece, top)], "refusal": None})
                for piece in pieces
            ]
            # Tool calls: id, type and name in a call's first delta only; arguments in two or more fragments.
            for position, (call_id, call) in enumerate(calls):
                opening = {"index": position, "id": call_id, "type": "function",
                           "function": {"name": call.name, "arguments": ""}}
                delta: dict[str, Any] = {"tool_calls": [opening]}
                if position == 0 and not has_text:
                    delta = {"role": "assistant", "content": None, "tool_calls": [opening]}
                items.append(self._chunk(delta, index=index))
                items.extend(
                    self._chunk({"tool_calls": [{"index": position, "function": {"arguments": piece}}]}, index=index)
                    for piece in fragments(call.arguments_json())
                    if piece
                )
            per_choice.append(items)
            ending.append(self._chunk({}, self._finish(reply, request_json, bool(calls)), index=index))
        if (request_json.get("stream_options") or {}).get("include_usage"):
            ending.append(frame({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                                 "model": "fake", "choices": [], "usage": self.usage(reply)}))
        ending.append(b"data: [DONE]\n\n")
        return prelude, interleave(per_choice), ending

    def stream_error(self, reply: Reply) -> list[bytes]:
        return [frame({"error": {"message": reply.error_message, "type": "server_error", "param": None,
                                 "code": None}}), b"data: [DONE]\n\n"]

    def error_body(self, reply: Reply) -> Any:
        return {
            "error": {
                "message": reply.error_message,
                "type": reply.error_type or ERROR_TYPES.get(reply.status, "invalid_request_error"),
                "param": reply.error_param,
                "code": reply.error_code or ERROR_CODES.get(reply.status),
            }
        }

    # -- embeddings ---------------------------------------------------------------------------------
    def embedding_dim_for(self, model: Any) -> int:
        return self.embedding_dim or EMBEDDING_DIMS.get(model, self.default_embedding_dim)

    def embed_body(self, reply: Reply, request_json: Any) -> Any:
        inputs = request_json.get("input")
        if inputs is None:  # vLLM's chat-templated `messages` instead of `input`
            inputs = " ".join(text_of(m.get("content")) for m in request_json.get("messages") or ())
        if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        dim = request_json.get("dimensions") or self.embedding_dim_for(request_json.get("model"))
        as_base64 = request_json.get("encoding_format") == "base64"
        data, tokens = [], 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))  # token ids: a text of their own
            tokens += count_tokens(item) if isinstance(item, str) else len(item)
            vector = _embedding(text, dim)
            data.append({"object": "embedding", "index": index,
                         "embedding": float32_base64(vector) if as_base64 else vector.tolist()})
        return {"object": "list", "data": data, "model": request_json.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    # -- request checks (PROTOCOLS-TOOLS.md §1, §2, §4, §5, §7) -----------------------------------
    def bad_request(self, message: str, param: str | None = None, code: str | None = None) -> Reply:
        return Reply(status=400, error_type="invalid_request_error", error_message=message, error_param=param,
                     error_code=code)

    def _not_json(self) -> Reply:
        return self.bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
        )

    def _unknown_field(self, body: dict[str, Any], known: frozenset[str]) -> Reply | None:
        for key in body:
            if key not in known:
                return self.bad_request(f"Unrecognized request argument supplied: {key}")
        return None

    def _missing(self, param: str) -> Reply:
        return self.bad_request(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")

    def check_chat(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self._not_json()
        return (
            self._unknown_field(body, CHAT_FIELDS)
            or self._check_request(body)
            or self._check_tools(body)
            or self._check_messages(body["messages"])
            or self._check_response_format(body)
        )

    def _check_request(self, body: dict[str, Any]) -> Reply | None:
        for required in ("model", "messages"):
            if body.get(required) is None:
                return self._missing(required)
        if not isinstance(body["messages"], list) or not body["messages"]:
            return self.bad_request(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                "array instead.", "messages", "empty_array")
        temperature = body.get("temperature")
        if isinstance(temperature, (int, float)) and not 0 <= temperature <= 2:
            bound = "above maximum" if temperature > 2 else "below minimum"
            limit = "<= 2" if temperature > 2 else ">= 0"
            return self.bad_request(
                f"Invalid 'temperature': decimal {bound} value. Expected a value {limit}, but got {temperature} "
                "instead.", "temperature", "decimal_above_max_value" if temperature > 2 else "decimal_below_min_value")
        if body.get("stream_options") is not None and not body.get("stream"):
            return self.bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                    "stream_options")
        return None

    def _check_tools(self, body: dict[str, Any]) -> Reply | None:
        tools = body.get("tools")
        if tools is not None:
            if not tools:
                return self.bad_request(
                    "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array "
                    "instead.", "tools", "empty_array")
            for index, tool in enumerate(tools):
                if not isinstance(tool, dict):
                    return self.bad_request(f"Invalid type for 'tools[{index}]': expected an object.",
                                            f"tools[{index}]", "invalid_type")
                function = tool.get("function")
                if tool.get("type") == "function" and not isinstance(function, dict):
                    return self._missing(f"tools[{index}].function")
                name = (function or {}).get("name")
                if function is not None and (not isinstance(name, str) or not TOOL_NAME.match(name)):
                    return self.bad_request(
                        f"Invalid 'tools[{index}].function.name': string does not match pattern. Expected a string "
                        "that matches the pattern '^[a-zA-Z0-9_-]+$'.", f"tools[{index}].function.name",
                        "invalid_value")
        if body.get("tool_choice") is not None and not tools:
            return self.bad_request(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice")
        return None

    def _check_messages(self, messages: list[Any]) -> Reply | None:
        pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that made the call
        answerable: set[str] = set()  # ids of the latest assistant message's calls
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                return self.bad_request(f"Invalid type for 'messages[{i}]': expected an object.", f"messages[{i}]")
            role = message.get("role")
            if role != "tool" and pending:
                return self._unanswered(pending)
            if role == "tool":
                call_id = message.get("tool_call_id")
                if call_id is None:
                    return self._missing(f"messages[{i}].tool_call_id")
                if call_id not in answerable:
                    return self.bad_request(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                        "with 'tool_calls'.", f"messages.[{i}].role")
                pending.pop(call_id, None)
                continue
            answerable = set()
            content = message.get("content")
            if role == "assistant":
                for j, call in enumerate(message.get("tool_calls") or ()):
                    arguments = (call.get("function") or {}).get("arguments")
                    if not isinstance(arguments, str):
                        return self.bad_request(
                            f"Invalid type for 'messages[{i}].tool_calls[{j}].function.arguments': expected a "
                            f"string, but got {type(arguments).__name__.replace('dict', 'an object')} instead.",
                            f"messages[{i}].tool_calls[{j}].function.arguments", "invalid_type")
                    if not call.get("id"):
                        return self._missing(f"messages[{i}].tool_calls[{j}].id")
                    pending[call["id"]] = i
                    answerable.add(call["id"])
                if content is None and not message.get("tool_calls"):
                    return self.bad_request(
                        f"Invalid value for 'messages[{i}].content': expected a string or an array, got null.",
                        f"messages[{i}].content")
            elif content is None:
                return self._missing(f"messages[{i}].content")
            if isinstance(content, list):
                allowed = PART_TYPES.get(role, ("text",))
                for j, part in enumerate(content):
                    kind = part.get("type") if isinstance(part, dict) else None
                    if kind == "image_url" and role != "user":
                        return self.bad_request(
                            f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role 'user', "
                            f"but this message with role '{role}' contains an image URL.", f"messages[{i}]",
                            "invalid_value")
                    if kind not in allowed:
                        supported = ", ".join(f"'{t}'" for t in allowed)
                        return self.bad_request(
                            f"Invalid value: '{kind}'. Supported values are: {supported}.",
                            f"messages[{i}].content[{j}].type", "invalid_value")
                    if kind == "image_url" and not isinstance((part.get("image_url") or {}).get("url"), str):
                        return self._missing(f"messages[{i}].content[{j}].image_url.url")
        if pending:
            return self._unanswered(pending)
        return None

    def _unanswered(self, pending: dict[str, int]) -> Reply:
        index = min(pending.values())
        return self.bad_request(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
            f"messages.[{index}].role")

    def _check_response_format(self, body: dict[str, Any]) -> Reply | None:
        response_format = body.get("response_format")
        if response_format is None:
            return None
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return self.bad_request(
                f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                "response_format.type", "invalid_value")
        if kind == "json_schema":
            schema = response_format.get("json_schema")
            if not isinstance(schema, dict):
                return self._missing("response_format.json_schema")
            if not schema.get("name"):
                return self._missing("response_format.json_schema.name")
        if kind == "json_object" and not any(
            "json" in text_of(m.get("content")).lower() for m in body["messages"] if isinstance(m, dict)
        ):
            return self.bad_request(
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                "'json_object'.", "messages")
        return None

    def check_embed(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self._not_json()
        unknown = self._unknown_field(body, EMBED_FIELDS)
        if unknown:
            return unknown
        for required in ("model", "input"):
            if body.get(required) is None:
                return self._missing(required)
        return self._check_embed_values(body)

    def _check_embed_values(self, body: dict[str, Any]) -> Reply | None:
        inputs = body["input"]
        items = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(items, list) or not items or any(
            not (isinstance(item, str) and item) and not (isinstance(item, list) and item) and not isinstance(item, int)
            for item in items
        ):
            return self.bad_request("'$.input' is invalid. Please check the API reference: "
                                    "https://platform.openai.com/docs/api-reference.", "input")
        if len(items) > 2048:
            return self.bad_request("'$.input' is invalid: at most 2048 inputs per request.", "input")
        dimensions = body.get("dimensions")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            return self.bad_request(f"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, "
                                    f"but got {dimensions} instead.", "dimensions", "integer_below_min_value")
        encoding = body.get("encoding_format")
        if encoding is not None and encoding not in ("float", "base64"):
            return self.bad_request(f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                                    "encoding_format", "invalid_value")
        return None


class VLLMFake(OpenAIFake):
    """vLLM: auth only when started with a key; a 401 body whose `error` is a string; int error codes.

    `auto_tool_choice=True` is the server started with `--enable-auto-tool-choice --tool-call-parser …`;
    without it any request with tools and an "auto" (or absent) tool_choice gets vLLM's 400.
    """

    name = "vllm"
    tool_call_prefix = "chatcmpl-tool-"
    default_embedding_dim = 1024
    settings = (*OpenAIFake.settings, "auto_tool_choice")

    def __init__(self, api_key: str | None = None, *, auto_tool_choice: bool = False, strict: bool = True,
                 embedding_dim: int | None = None) -> None:
        self.auto_tool_choice = auto_tool_choice
        super().__init__(api_key or "", strict=strict, embedding_dim=embedding_dim)

    def new_tool_call_id(self) -> str:
        return f"{self.tool_call_prefix}{uuid.uuid4().hex}"

    def embedding_dim_for(self, model: Any) -> int:
        return self.embedding_dim or self.default_embedding_dim

    def auth_ok(self, request: web.Request) -> bool:
        return not self.api_key or super().auth_ok(request)

    def auth_error_reply(self) -> Reply:
        return Reply(status=401, body={"error": "Unauthorized"})

    def error_body(self, reply: Reply) -> Any:
        kind = {400: "BadRequestError", 404: "NotFoundError"}.get(reply.status, "InternalServerError")
        return {"error": {"message": reply.error_message, "type": reply.error_type or kind, "param": None,
                          "code": reply.status}}

    def embed_body(self, reply: Reply, request_json: Any) -> Any:
        return {"id": f"embd-{uuid.uuid4().hex}", "created": int(time.time()),
                **super().embed_body(reply, request_json)}

    # vLLM accepts (and ignores) unknown fields; it checks tool usage (`check_tool_usage`) and the tool parser.
    def bad_request(self, message: str, param: str | None = None, code: str | None = None) -> Reply:
        return Reply(status=400, error_message=message)

    def check_chat(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("JSON decode error")
        if not body.get("messages"):
            return self.bad_request("Field required: messages")
        tools, choice = body.get("tools"), body.get("tool_choice")
        if tools is not None and not tools:
            return self.bad_request("`tools` must not be an empty list.")
        if choice is None and tools:
            choice = "auto"
        if choice is None or choice == "none":
            return None
        if not tools:
            return self.bad_request("When using `tool_choice`, `tools` must be set.")
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            if name not in {(t.get("function") or {}).get("name") for t in tools}:
                return self.bad_request("The tool specified in `tool_choice` does not match any of the specified "
                                        "`tools`")
        elif choice == "auto" and not self.auto_tool_choice:
            return self.bad_request(
                '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set')
        elif choice not in ("auto", "required"):
            return self.bad_request('`tool_choice` must either be a named tool, "auto", "required" or "none".')
        return None

    def check_embed(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("JSON decode error")
        if body.get("input") is None and body.get("messages") is None:
            return self.bad_request("Field required: input")
        if body.get("input") is None:
            return None
        return self._check_embed_values(body)
