"""Cohere Chat v2 and Embed v2 as a fake server."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
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
    split_words,
    token_id,
    token_logprob,
)

# Body fields of `/v2/chat` and `/v2/embed` (cohere-python 7.3 `v2/raw_client.py`); others get a 422.
CHAT_FIELDS = frozenset({
    "model", "messages", "tools", "strict_tools", "documents", "citation_options", "response_format", "safety_mode",
    "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty", "presence_penalty", "k", "p",
    "logprobs", "tool_choice", "thinking", "priority", "stream",
})
EMBED_FIELDS = frozenset({
    "texts", "images", "model", "input_type", "inputs", "max_tokens", "output_dimension", "embedding_types",
    "truncate", "priority",
})
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")
EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "ubinary", "base64")
OUTPUT_DIMENSIONS = (256, 512, 1024, 1536)
PART_TYPES = {"user": ("text", "image_url"), "system": ("text",), "assistant": ("text", "thinking"),
              "tool": ("text", "document")}


class CohereFake(FakeProvider):
    path = "/v2/chat"
    embed_path = "/v2/embed"
    name = "cohere"

    def auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _calls(reply: Reply) -> list[tuple[str, ToolCall]]:
        return [(call.id or f"{call.name}_{uuid.uuid4().hex[:12]}", call) for call in reply.tool_calls or ()]

    @staticmethod
    def _plan(reply: Reply) -> str:
        if reply.tool_plan is not None:
            return reply.tool_plan
        names = ", ".join(call.name for call in reply.tool_calls or ())
        return reply.text or f"I will use {names}."

    @staticmethod
    def _finish(reply: Reply, has_calls: bool) -> str:
        return reply.finish or ("TOOL_CALL" if has_calls else "COMPLETE")

    @staticmethod
    def _usage(reply: Reply) -> dict[str, Any]:
        return {
            "billed_units": {"input_tokens": float(reply.input_tokens), "output_tokens": float(reply.output_tokens)},
            "tokens": {"input_tokens": reply.input_tokens + 60, "output_tokens": reply.output_tokens},
            "cached_tokens": reply.cached_tokens,
        }

    @staticmethod
    def _logprob(piece: str) -> dict[str, Any]:
        return {"text": piece, "token_ids": [token_id(piece)], "logprobs": [token_logprob(piece)]}

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        calls = self._calls(reply)
        if calls:  # the text, if any, is the plan: Cohere does not answer and call in one turn
            message: dict[str, Any] = {"role": "assistant", "tool_plan": self._plan(reply), "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json()}}
                for call_id, call in calls]}
        else:
            message = {"role": "assistant", "content": [{"type": "text", "text": reply.text}]}
        body = {
            "id": str(uuid.uuid4()),
            "message": message,
            "finish_reason": self._finish(reply, bool(calls)),
            "usage": self._usage(reply),
        }
        if request_json.get("logprobs") and not calls:
            body["logprobs"] = [self._logprob(piece) for piece in split_words(reply.text)]
        return body

    def error_body(self, reply: Reply) -> Any:
        return {"id": str(uuid.uuid4()), "message": reply.error_message}

    # -- streaming: typed events, message-end with usage, then [DONE] -----------------------------
    def stream_frames(self, reply: Reply, request_json: Any) -> tuple[list[bytes], list[bytes], list[bytes]]:
        calls = self._calls(reply)
        prelude = [frame({"id": "fake-id", "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}},
            "message-start")]
        content: list[bytes] = []
        ending: list[bytes] = []
        if calls:
            content += [
                frame({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}, "tool-plan-delta")
                for piece in split_words(self._plan(reply))
            ]
            for index, (call_id, call) in enumerate(calls):
                content.append(frame({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": {
                    "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}}}},
                    "tool-call-start"))
                content += [frame({"type": "tool-call-delta", "index": index,
                                   "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}},
                                  "tool-call-delta") for piece in fragments(call.arguments_json()) if piece]
                content.append(frame({"type": "tool-call-end", "index": index}, "tool-call-end"))
        else:
            prelude.append(frame({"type": "content-start", "index": 0,
                                  "delta": {"message": {"content": {"type": "text", "text": ""}}}}, "content-start"))
            with_logprobs = bool(request_json.get("logprobs"))
            for piece in reply.pieces():
                event: dict[str, Any] = {"type": "content-delta", "index": 0,
                                         "delta": {"message": {"content": {"text": piece}}}}
                if with_logprobs:
                    event["logprobs"] = self._logprob(piece)
                content.append(frame(event, "content-delta"))
            ending.append(frame({"type": "content-end", "index": 0}, "content-end"))
        ending += [
            frame({"type": "message-end", "delta": {"finish_reason": self._finish(reply, bool(calls)),
                                                    "usage": self._usage(reply)}}, "message-end"),
            b"data: [DONE]\n\n",
        ]
        return prelude, content, ending

    def stream_error(self, reply: Reply) -> list[bytes]:
        return [frame({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": reply.error_message}},
                      "message-end"), b"data: [DONE]\n\n"]

    # -- embeddings -----------------------------------------------------------------------------------
    def embed_body(self, reply: Reply, request_json: Any) -> Any:
        texts = request_json.get("texts")
        if texts:
            sources, tokens = list(texts), sum(count_tokens(t) for t in texts)
        elif request_json.get("images"):
            sources, tokens = list(request_json["images"]), 0
        else:  # `inputs`: each a list of text and image parts, embedded as one
            sources = [" ".join((p.get("text") or (p.get("image_url") or {}).get("url") or "")
                                for p in item.get("content") or ()) for item in request_json["inputs"]]
            tokens = sum(count_tokens(s) for s in sources)
        dim = request_json.get("output_dimension") or self.embedding_dim or self.default_embedding_dim
        vectors = [_embedding(source, dim) for source in sources]
        embeddings = {kind: [self._encode(v, kind) for v in vectors]
                      for kind in request_json.get("embedding_types") or ["float"]}
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "response_type": "embeddings_by_type",
            "embeddings": embeddings,
            "texts": list(texts or ()),
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": float(tokens)}},
        }
        if request_json.get("images"):
            body["meta"]["billed_units"]["images"] = float(len(sources))
        return body

    @staticmethod
    def _encode(vector: np.ndarray, kind: str) -> Any:
        if kind == "float":
            return vector.tolist()
        if kind == "base64":  # float32, little-endian (the byte order is not documented)
            return float32_base64(vector)
        scaled = np.clip(np.round(vector / np.abs(vector).max() * 127), -128, 127).astype(int)
        if kind == "int8":
            return scaled.tolist()
        if kind == "uint8":
            return (scaled + 128).tolist()
        packed = np.packbits(vector > 0).astype(int)
        return (packed - 128).tolist() if kind == "binary" else packed.tolist()

    # -- request checks (PROTOCOLS-TOOLS.md §1, §2, §4, §5, §7, §11) --------------------------------
    @staticmethod
    def bad_request(message: str, status: int = 400) -> Reply:
        return Reply(status=status, error_message=f"invalid request: {message}")

    @staticmethod
    def _unknown_field(body: dict[str, Any], known: frozenset[str], endpoint: str) -> Reply | None:
        for key in body:
            if key not in known:
                return Reply(status=422, error_message=f"unknown field: parameter '{key}' is not a valid field. For "
                                                       f"proper usage, please refer to "
                                                       f"https://docs.cohere.com/reference/{endpoint}")
        return None

    def check_chat(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("the request body is not valid JSON")
        unknown = self._unknown_field(body, CHAT_FIELDS, "chat")
        if unknown:
            return unknown
        for required in ("model", "messages"):
            if not body.get(required):
                return self.bad_request(f"{required} is required")
        tools = body.get("tools")
        if body.get("response_format") is not None:
            kind = (body["response_format"] or {}).get("type")
            if kind not in ("text", "json_object"):
                return self.bad_request(f"response_format.type must be one of 'text', 'json_object', got '{kind}'")
            if tools or body.get("documents"):
                return self.bad_request("response_format is not supported with tools or documents")
        choice = body.get("tool_choice")
        if choice is not None and choice not in ("REQUIRED", "NONE"):
            return self.bad_request(f"tool_choice must be one of REQUIRED, NONE; got {choice!r}")
        for k, tool in enumerate(tools or ()):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not function.get("name"):
                return self.bad_request(f"tools[{k}].function.name is required")
            if not isinstance(function.get("parameters"), dict):
                return self.bad_request(f"tools[{k}].function.parameters is required")
            if body.get("strict_tools") and not function["parameters"].get("required"):
                return self.bad_request(f"tools[{k}]: with strict_tools, a tool needs at least one required "
                                        "parameter")
        thinking = body.get("thinking")
        if thinking is not None:
            if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
                return self.bad_request("thinking.type must be one of 'enabled', 'disabled'")
            budget = thinking.get("token_budget")
            if budget is not None and (not isinstance(budget, int) or budget < 1):
                return self.bad_request("thinking.token_budget must be a positive integer")
        return self._check_messages(body["messages"])

    def _check_messages(self, messages: Any) -> Reply | None:
        if not isinstance(messages, list):
            return self.bad_request("messages must be a list")
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in PART_TYPES:
                return self.bad_request(f"messages[{i}].role must be one of system, user, assistant, tool; "
                                        f"got {role!r}")
            if role == "tool" and not message.get("tool_call_id"):
                return self.bad_request(f"messages[{i}]: tool messages must have a tool_call_id")
            content = message.get("content")
            if isinstance(content, list):
                for j, part in enumerate(content):
                    kind = part.get("type") if isinstance(part, dict) else None
                    if kind not in PART_TYPES[role]:
                        return self.bad_request(f"messages[{i}].content[{j}].type {kind!r} is not allowed in a "
                                                f"{role} message")
                    if kind == "image_url" and not isinstance((part.get("image_url") or {}).get("url"), str):
                        return self.bad_request(f"messages[{i}].content[{j}].image_url.url is required")
        return None

    def check_embed(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("the request body is not valid JSON")
        unknown = self._unknown_field(body, EMBED_FIELDS, "embed")
        if unknown:
            return unknown
        if not body.get("model"):
            return self.bad_request("model is required")
        if body.get("input_type") is None:
            return self.bad_request("input_type is required for embed-v3 and newer models")
        if body["input_type"] not in INPUT_TYPES:
            return self.bad_request(f"input_type must be one of {', '.join(INPUT_TYPES)}")
        given = [key for key in ("texts", "images", "inputs") if body.get(key)]
        if len(given) != 1:
            return self.bad_request("exactly one of texts, images or inputs must be provided")
        if len(body[given[0]]) > 96:
            return self.bad_request(f"{given[0]} must contain at most 96 items")
        for kind in body.get("embedding_types") or ():
            if kind not in EMBEDDING_TYPES:
                return self.bad_request(f"embedding_types must be among {', '.join(EMBEDDING_TYPES)}; got {kind!r}")
        dimension = body.get("output_dimension")
        if dimension is not None and dimension not in OUTPUT_DIMENSIONS:
            return self.bad_request(f"output_dimension must be one of 256, 512, 1024, 1536; got {dimension}")
        return None
