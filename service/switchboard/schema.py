"""The wire shape of the standard request: `CompleteRequest` and the messages the front doors share.

`CompleteRequest` is the body of `POST /complete` (and of `POST /decide`); its messages use OpenAI's chat
message shape (text and image parts, tool calls, tool results), the one the other front doors share.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from switchboard.core import request as neutral

MAX_STOP_SEQUENCES = 4  # the smallest limit among the providers (OpenAI)
TOOL_NAME = r"^[a-zA-Z0-9_\-]{1,64}$"


NonBlank = Annotated[str, StringConstraints(min_length=1), Field(pattern=r"\S")]

# Request metadata is logged and traced whole, so it is bounded (OpenAI's own limits: 16 pairs, keys of 64
# characters, values of 512), and 4 KiB in all.
METADATA_KEYS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS, METADATA_BYTES = 16, 64, 512, 4096


def bounded_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """`metadata` within its bounds, or a ValueError naming the key at fault."""
    if value is None:
        return None
    if len(value) > METADATA_KEYS:
        raise ValueError(f"at most {METADATA_KEYS} keys (it has {len(value)})")
    for key, item in value.items():
        if len(key) > METADATA_KEY_CHARS:
            raise ValueError(f"keys of at most {METADATA_KEY_CHARS} characters ('{key[:20]}...')")
        if isinstance(item, str) and len(item) > METADATA_VALUE_CHARS:
            raise ValueError(f"{key}: at most {METADATA_VALUE_CHARS} characters (it has {len(item)})")
    size = len(json.dumps(value))
    if size > METADATA_BYTES:
        raise ValueError(f"at most {METADATA_BYTES} bytes of JSON in all (it has {size})")
    return value


Metadata = Annotated[dict[str, str | int | float | bool] | None, AfterValidator(bounded_metadata)]


# -- the wire shape of messages (OpenAI's), shared by /complete, /v1/chat/completions and the library --------
class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPartIn(_Wire):
    type: Literal["text"]
    text: str


class ImageUrl(_Wire):
    url: Annotated[str, Field(pattern=r"^(https?://|data:image/[a-z0-9.+\-]+;base64,)", max_length=20_000_000)]
    detail: Literal["auto", "low", "high", "original"] | None = None


class ImagePartIn(_Wire):
    type: Literal["image_url"]
    image_url: ImageUrl


def _part_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"part:{kind}" if kind in ("text", "image_url") else None


def _content_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "content:text"
    if isinstance(value, list):
        return "content:parts"
    return None


# Tagged unions keep validation errors about the branch the input took (tags contain ":" and are left out of
# the field path: `messages[0].content[1].image_url.url`).
ContentPart = Annotated[
    Annotated[TextPartIn, Tag("part:text")] | Annotated[ImagePartIn, Tag("part:image_url")],
    Discriminator(_part_kind, custom_error_type="invalid_part",
                  custom_error_message="a content part is {'type': 'text', ...} or {'type': 'image_url', ...}"),
]
Content = Annotated[
    Annotated[str, Tag("content:text")] | Annotated[list[ContentPart], Tag("content:parts")],
    Discriminator(_content_kind, custom_error_type="invalid_content",
                  custom_error_message="must be a string or a list of content parts"),
]


class FunctionCallIn(_Wire):
    name: Annotated[str, Field(pattern=TOOL_NAME)]
    arguments: str

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError("must be a JSON object encoded as a string") from None
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object encoded as a string")
        return value


class ToolCallIn(_Wire):
    id: Annotated[str, Field(min_length=1, max_length=256)]
    type: Literal["function"] = "function"
    function: FunctionCallIn


# Fields of an assistant message as the API answered it, which clients echo back in the history (the SDK sends
# `choices[0].message` as it was parsed): response-only, so dropped before the message is read.
ECHOED = frozenset({"refusal", "annotations", "audio", "function_call", "reasoning", "reasoning_content",
                    "parsed"})  # `parsed`: the SDK's stream and parse helpers add it (`parsed_arguments` too)


def as_sent(message: Any) -> Any:
    """An assistant message without the response-only fields a client echoed back."""
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return message
    message = {k: v for k, v in message.items() if k not in ECHOED}
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        message["tool_calls"] = [
            {**{k: v for k, v in call.items() if k != "index"},  # `index`: from a stream's accumulated deltas
             "function": {k: v for k, v in call["function"].items() if k != "parsed_arguments"}}
            if isinstance(call, dict) and isinstance(call.get("function"), dict) else call
            for call in calls]
    return message



class MessageIn(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Content | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _without_echoed_fields(cls, value: Any) -> Any:
        return as_sent(value)

    @model_validator(mode="after")
    def _shape(self) -> MessageIn:
        if self.role == "assistant":
            if self.content is None and not self.tool_calls:
                raise ValueError("an assistant message needs content or tool_calls")
        elif self.role == "tool":
            if not self.tool_call_id:
                raise ValueError("a tool message needs tool_call_id")
            if self.content is None:
                raise ValueError("a tool message needs content")
        else:
            if self.content is None:
                raise ValueError(f"a {self.role} message needs content")
            if self.tool_calls:
                raise ValueError("only assistant messages carry tool_calls")
        if isinstance(self.content, str) and self.role in ("user", "system", "developer") and not self.content.strip():
            raise ValueError("content must not be blank")
        if isinstance(self.content, list) and self.role != "user":
            if any(isinstance(part, ImagePartIn) for part in self.content):
                raise ValueError("images are allowed in user messages only")
        return self

    def to_message(self) -> neutral.Message:
        content: str | list[neutral.Part] | None
        if isinstance(self.content, list):
            content = [neutral.TextPart(p.text) if isinstance(p, TextPartIn)
                       else neutral.ImagePart(p.image_url.url, p.image_url.detail) for p in self.content]
        else:
            content = self.content
        calls = [neutral.ToolCall(c.id, c.function.name, c.function.arguments or "{}") for c in self.tool_calls] \
            if self.tool_calls else None
        role = "system" if self.role == "developer" else self.role  # OpenAI's newer name for the system role
        return neutral.Message(role, content, calls, self.tool_call_id, self.name)


class FunctionIn(_Wire):
    name: Annotated[str, Field(pattern=TOOL_NAME)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(_Wire):
    type: Literal["function"]
    function: FunctionIn

    @field_validator("function")
    @classmethod
    def _object_schema(cls, value: FunctionIn) -> FunctionIn:
        if value.parameters is not None and value.parameters.get("type", "object") != "object":
            raise ValueError("parameters must be a JSON Schema of type object")
        return value


class NamedFunction(_Wire):
    name: Annotated[str, Field(pattern=TOOL_NAME)]


class NamedToolChoice(_Wire):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaIn(_Wire):
    name: Annotated[str, Field(pattern=TOOL_NAME)]
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class ResponseFormatIn(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaIn | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormatIn:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type json_schema needs json_schema")
        return self

    def to_format(self) -> neutral.ResponseFormat:
        if self.json_schema is None:
            return neutral.ResponseFormat(self.type)
        spec = self.json_schema
        return neutral.ResponseFormat(self.type, spec.schema_, spec.name, spec.strict)


ToolChoiceIn = Literal["auto", "none", "required"] | NamedToolChoice


def tool_choice(value: ToolChoiceIn | None) -> neutral.ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        return neutral.ToolChoice(value)
    return neutral.ToolChoice("function", value.function.name)


def check_conversation(messages: list[MessageIn], tools: list[ToolIn] | None, choice: ToolChoiceIn | None) -> None:
    """What a conversation must satisfy whatever the provider (raised as a ValueError naming the place)."""
    if all(m.role in ("system", "developer") for m in messages):
        raise ValueError("messages: needs at least one user or assistant message")
    names = {tool.function.name for tool in tools or ()}
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise ValueError(f"tool_choice: names '{choice.function.name}', which is not among the tools")
    if choice == "required" and not tools:
        raise ValueError("tool_choice: 'required' needs tools")


class CompleteRequest(_Wire):
    """Body of `POST /complete` and `POST /decide`, and the input of `Switchboard.complete`."""

    text: NonBlank | None = None
    messages: Annotated[list[MessageIn], Field(min_length=1)] | None = None
    task_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    max_tokens: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    stop: list[NonBlank] | NonBlank | None = None
    seed: int | None = None
    tools: Annotated[list[ToolIn], Field(min_length=1, max_length=128)] | None = None
    tool_choice: ToolChoiceIn | None = None
    response_format: ResponseFormatIn | None = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None
    metadata: Metadata = None
    stream: bool = False
    cache: bool | None = None  # false: this request neither reads nor writes the cache

    @model_validator(mode="after")
    def _one_prompt(self) -> CompleteRequest:
        if (self.text is None) == (self.messages is None):
            raise ValueError("give exactly one of 'text' or 'messages'")
        if self.messages is not None:
            check_conversation(self.messages, self.tools, self.tool_choice)
        return self

    @field_validator("stop")
    @classmethod
    def _stop_as_list(cls, value: list[str] | str | None) -> list[str] | None:
        if isinstance(value, str):
            value = [value]
        if value is not None and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return value

    def to_request(self) -> neutral.Request:
        messages = ([m.to_message() for m in self.messages] if self.messages is not None
                    else [neutral.Message("user", self.text)])
        return neutral.Request(
            messages=messages,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=self.stop,  # type: ignore[arg-type]  # a list after validation
            seed=self.seed,
            tools=[to_tool(t) for t in self.tools] if self.tools else None,
            tool_choice=tool_choice(self.tool_choice),
            response_format=self.response_format.to_format() if self.response_format else None,
            task_type=self.task_type,
            model=self.model,
            metadata=self.metadata,
            timeout_s=self.timeout_s,
            stream=self.stream,
            cache=self.cache,
        )


def to_tool(tool: ToolIn) -> neutral.Tool:
    f = tool.function
    return neutral.Tool(f.name, f.description, f.parameters, f.strict)
