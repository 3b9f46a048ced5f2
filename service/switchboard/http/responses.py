"""The OpenAI Responses front door: `POST /v1/responses`, the default of the openai-agents SDK and the
"responses" mode of the openai SDK, litellm, instructor and pydantic-ai, translated to every provider like the
other doors, routed and recorded like them.

Input as a string or items (messages with text and image parts, function calls and their outputs; reasoning
items are accepted and left out), `instructions`, function tools and `tool_choice`, `text.format` (a JSON
schema), `reasoning.effort`, `max_output_tokens`, `metadata`, and streaming in the API's typed events. Stateless
by default: `store: true` keeps the conversation and `previous_response_id` continues one (`conversations.py`,
in Redis). Built-in tools (web search, file search, ...) are a 400 naming the tool. docs/responses.md lists
what is and is not served.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, model_validator

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.events import (
    StreamFailed,
    StreamFinished,
    StreamItem,
    StreamStarted,
    TextDelta,
    ToolCallDelta,
)
from switchboard.core.request import (
    ImagePart,
    Message,
    Part,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from switchboard.core.response import CompletionResponse, ToolCallOut, Usage
from switchboard.http import sse
from switchboard.http.conversations import Conversations
from switchboard.http.doors import Encoded, Incoming, parse_body, route_header
from switchboard.schema import TOOL_NAME

IMAGE_URL = r"^(https?://|data:image/[a-z0-9.+\-]+;base64,)"
LOGPROBS = "message.output_text.logprobs"
EFFORTS = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


# -- the request: input items and their parts ------------------------------------------------------------
class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")  # ids, statuses, annotations an SDK echoes back: not needed here


class InputText(_Item):
    type: Literal["input_text"]
    text: str


class InputImage(_Item):
    type: Literal["input_image"]
    image_url: Annotated[str, Field(pattern=IMAGE_URL, max_length=20_000_000)] | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] | None = None

    @model_validator(mode="after")
    def _by_url(self) -> InputImage:
        if self.image_url is None:
            raise ValueError("image_url: give the image as a URL or a data: URI (file ids are not served here)")
        return self


class InputFile(_Item):
    type: Literal["input_file"]


class OutputText(_Item):
    type: Literal["output_text"]
    text: str


class Refusal(_Item):
    type: Literal["refusal"]
    refusal: str


def _part_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"part:{kind}" if kind in ("input_text", "input_image", "input_file", "output_text", "refusal") else None


ContentPart = Annotated[
    Annotated[InputText, Tag("part:input_text")] | Annotated[InputImage, Tag("part:input_image")]
    | Annotated[InputFile, Tag("part:input_file")] | Annotated[OutputText, Tag("part:output_text")]
    | Annotated[Refusal, Tag("part:refusal")],
    Discriminator(_part_tag, custom_error_type="invalid_part", custom_error_message=(
        "a content part is input_text, input_image or (from an assistant) output_text or refusal")),
]


class MessageItem(_Item):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | Annotated[list[ContentPart], Field(min_length=1)]

    @model_validator(mode="after")
    def _parts_fit_the_role(self) -> MessageItem:
        for index, part in enumerate(self.content if isinstance(self.content, list) else ()):
            if isinstance(part, InputFile):
                raise ValueError(  # noqa: TRY004 (pydantic reports ValueErrors)
                    f"content[{index}]: input_file is not served here (send the text, or images)")
            if isinstance(part, InputImage) and self.role != "user":
                raise ValueError(f"content[{index}]: images belong in user messages")
            if isinstance(part, OutputText | Refusal) and self.role != "assistant":
                raise ValueError(f"content[{index}]: {part.type} belongs in assistant messages")
        if isinstance(self.content, str) and self.role != "assistant" and not self.content.strip():
            raise ValueError("content: must not be blank")
        return self

    def parts(self) -> str | list[Part]:
        if isinstance(self.content, str):
            return self.content
        parts: list[Part] = []
        for part in self.content:
            if isinstance(part, InputText | OutputText):
                parts.append(TextPart(part.text))
            elif isinstance(part, Refusal):
                parts.append(TextPart(part.refusal))
            elif isinstance(part, InputImage) and part.image_url is not None:
                parts.append(ImagePart(part.image_url, part.detail))
        return parts[0].text if len(parts) == 1 and isinstance(parts[0], TextPart) else parts


class FunctionCallItem(_Item):
    type: Literal["function_call"]
    call_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    name: Annotated[str, Field(pattern=TOOL_NAME)]
    arguments: str
    id: str | None = None


class FunctionCallOutputItem(_Item):
    type: Literal["function_call_output"]
    call_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    output: str | list[Annotated[InputText | InputImage | InputFile, Field(discriminator="type")]]

    def parts(self) -> str | list[Part]:
        if isinstance(self.output, str):
            return self.output
        parts: list[Part] = []
        for index, part in enumerate(self.output):
            if isinstance(part, InputFile):
                raise GatewayError(400, "unsupported_parameter", f"output[{index}]: input_file is not served here",
                                   field="input")
            parts.append(TextPart(part.text) if isinstance(part, InputText) else ImagePart(part.image_url or "",
                                                                                           part.detail))
        return parts


class ReasoningItem(_Item):
    """A reasoning item from an earlier response (another provider's, or OpenAI's): accepted and left out, as
    thinking blocks are on /v1/messages."""

    type: Literal["reasoning"]


def _item_tag(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    kind = value.get("type", "message" if "role" in value else None)  # an easy message may leave out `type`
    return f"item:{kind}" if kind in ("message", "function_call", "function_call_output", "reasoning") else None


InputItem = Annotated[
    Annotated[MessageItem, Tag("item:message")] | Annotated[FunctionCallItem, Tag("item:function_call")]
    | Annotated[FunctionCallOutputItem, Tag("item:function_call_output")]
    | Annotated[ReasoningItem, Tag("item:reasoning")],
    Discriminator(_item_tag, custom_error_type="invalid_item", custom_error_message=(
        "an input item is a message, a function_call, a function_call_output or a reasoning item (built-in "
        "tool calls, item references and files are not served here)")),
]


def _input_tag(value: Any) -> str | None:
    return "input:text" if isinstance(value, str) else "input:items" if isinstance(value, list) else None


# Tagged, so that a problem is reported at its place (`input`, `input[2].call_id`), not under a union's branch.
Input = Annotated[
    Annotated[Annotated[str, StringConstraints(min_length=1)], Tag("input:text")]
    | Annotated[Annotated[list[InputItem], Field(min_length=1)], Tag("input:items")],
    Discriminator(_input_tag, custom_error_type="invalid_input",
                  custom_error_message="must be a string or a list of input items"),
]


# -- tools, tool choice, text format, reasoning ---------------------------------------------------------------
class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="ignore")  # defer_loading, output_schema, allowed_callers: not needed here
    type: Literal["function"]
    name: Annotated[str, Field(pattern=TOOL_NAME)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _object(self) -> FunctionTool:
        if self.parameters is not None and self.parameters.get("type", "object") != "object":
            raise ValueError("parameters: must be a JSON Schema of type object")
        return self


class BuiltInTool(BaseModel):
    """Any other tool type: named in the 400 that refuses it."""

    model_config = ConfigDict(extra="allow")
    type: str


def _tool_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "tool:function" if kind == "function" else "tool:built_in"


ToolIn = Annotated[Annotated[FunctionTool, Tag("tool:function")] | Annotated[BuiltInTool, Tag("tool:built_in")],
                   Discriminator(_tool_tag)]


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: Annotated[str, Field(pattern=TOOL_NAME)]


class AllowedTools(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: Annotated[list[NamedFunction], Field(min_length=1)]


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    name: Annotated[str, Field(pattern=TOOL_NAME)] | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> TextFormat:
        if self.type == "json_schema" and (self.schema_ is None or self.name is None):
            raise ValueError("a json_schema format needs name and schema")
        return self


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    effort: EFFORTS | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


# Accepted without effect on the answer: not listed as dropped. Anything else unknown is listed.
TRANSPORT = ("stream_options",)
# Known, served nowhere here, and changing what the client gets: a 400 naming them when set.
REFUSED = ("conversation", "prompt", "background", "context_management")


class ResponsesRequest(BaseModel):
    """Body of `POST /v1/responses`."""

    model_config = ConfigDict(extra="allow")

    model: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    input: Input
    instructions: str | None = None
    tools: Annotated[list[ToolIn], Field(max_length=128)] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedFunction | AllowedTools | BuiltInTool | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    include: list[str] | None = None
    metadata: Annotated[dict[str, Annotated[str, StringConstraints(max_length=512)]], Field(max_length=16)] | None = None
    user: Annotated[str, StringConstraints(max_length=256)] | None = None
    safety_identifier: Annotated[str, StringConstraints(max_length=128)] | None = None
    store: bool | None = None
    previous_response_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    stream: bool = False
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None  # Switchboard: this request's deadline

    @model_validator(mode="after")
    def _served(self) -> ResponsesRequest:
        for name in REFUSED:
            if (self.model_extra or {}).get(name) not in (None, False, []):
                raise ValueError(f"{name}: not served by this gateway")
        if isinstance(self.tool_choice, BuiltInTool):
            raise ValueError(f"tool_choice: the built-in tool '{self.tool_choice.type}' is not "  # noqa: TRY004
                             "served here (function tools only)")
        names = {tool.name for tool in self.tools or () if isinstance(tool, FunctionTool)}
        chosen = [self.tool_choice] if isinstance(self.tool_choice, NamedFunction) else \
            self.tool_choice.tools if isinstance(self.tool_choice, AllowedTools) else []
        for choice in chosen:
            if choice.name not in names:
                raise ValueError(f"tool_choice: names '{choice.name}', which is not among the tools")
        if self.tool_choice == "required" and not names:
            raise ValueError("tool_choice: 'required' needs tools")
        return self

    def built_in_tool(self) -> GatewayError | None:
        for index, tool in enumerate(self.tools or ()):
            if isinstance(tool, BuiltInTool):
                return GatewayError(400, "unsupported_parameter", f"tools[{index}]: the built-in tool '{tool.type}' "
                                    "is not served by this gateway (function tools only)", field=f"tools[{index}]")
        return None

    def dropped(self) -> list[str]:
        """Every parameter the client set that no provider will see."""
        extra = self.model_extra or {}
        names = sorted(name for name in extra if name not in TRANSPORT and extra[name] not in (None, False, [], {}))
        if self.text is not None and self.text.verbosity is not None:
            names.append("text.verbosity")
        if self.reasoning is not None and (self.reasoning.summary or self.reasoning.generate_summary):
            names.append("reasoning.summary")  # no reasoning items come back from here
        if self.truncation == "auto":
            names.append("truncation")
        names += [f"include.{value}" for value in self.include or () if value != LOGPROBS]
        if self.top_logprobs and LOGPROBS not in (self.include or ()):
            names.append("top_logprobs")  # asked without asking for logprobs
        return names

    def to_turn(self) -> ResponsesTurn:
        refusal = self.built_in_tool()
        if refusal is not None:
            raise refusal
        inputs: list[Any] = [MessageItem(role="user", content=self.input)] if isinstance(self.input, str) \
            else self.input
        items = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in inputs]
        tools = [Tool(t.name, t.description, t.parameters, t.strict) for t in self.tools or ()
                 if isinstance(t, FunctionTool)]
        choice = self.tool_choice
        if isinstance(choice, AllowedTools):  # the allowed subset, then auto or required over it
            allowed = {tool.name for tool in choice.tools}
            tools = [tool for tool in tools if tool.name in allowed]
            neutral_choice: ToolChoice | None = ToolChoice(choice.mode)
        elif isinstance(choice, NamedFunction):
            neutral_choice = ToolChoice("function", choice.name)
        else:
            neutral_choice = ToolChoice(choice) if isinstance(choice, str) else None  # type: ignore[arg-type]
        form = self.text.format if self.text is not None else None
        logprobs = LOGPROBS in (self.include or ())
        turn = ResponsesTurn(
            messages=[],
            max_tokens=self.max_output_tokens, temperature=self.temperature, top_p=self.top_p,
            logprobs=logprobs, top_logprobs=self.top_logprobs if logprobs else None,
            user=self.user or self.safety_identifier,
            reasoning_effort=self.reasoning.effort if self.reasoning is not None else None,
            tools=tools or None, tool_choice=neutral_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            response_format=None if form is None or form.type == "text" else
            ResponseFormat(form.type, form.schema_, form.name, form.strict),
            model=None if self.model == "auto" else self.model, metadata=self.metadata, timeout_s=self.timeout_s,
            stream=self.stream, dropped=self.dropped(),
            instructions=self.instructions, items=items, inputs=inputs, previous_id=self.previous_response_id,
            store=bool(self.store), echo=self._echo(),
        )
        if self.previous_response_id is None:
            turn.messages = conversation(self.instructions, inputs)
        return turn

    def _echo(self) -> dict[str, Any]:
        """What the Response object says back about the request."""
        choice = self.tool_choice
        return {
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "metadata": self.metadata or {},
            "parallel_tool_calls": self.parallel_tool_calls if self.parallel_tool_calls is not None else True,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": self.reasoning.effort if self.reasoning else None, "summary": None},
            "temperature": self.temperature,
            "text": {"format": self.text.format.model_dump(mode="json", by_alias=True, exclude_none=True)
                     if self.text is not None and self.text.format is not None else {"type": "text"}},
            "tool_choice": choice if isinstance(choice, str) else choice.model_dump(mode="json")
            if choice is not None else "auto",
            "tools": [{**tool.model_dump(mode="json", exclude_none=True), "strict": tool.strict}
                      for tool in self.tools or () if isinstance(tool, FunctionTool)],
            "top_p": self.top_p,
            "top_logprobs": self.top_logprobs,
            "truncation": self.truncation or "disabled",
            "user": self.user,
        }


@dataclass(slots=True)
class ResponsesTurn(Request):
    """A Responses request: the neutral request, and what the door needs to answer and keep it."""

    instructions: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)  # this turn's input items, as stored
    inputs: list[Any] = field(default_factory=list)  # ... and as parsed
    previous_id: str | None = None
    store: bool = False
    echo: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # the items of the previous response's conversation
    conversations: Conversations | None = None  # set by `prepare` when the turn reads or writes one
    kept: bool = False  # stored (Redis said yes)


# -- items → neutral messages (new input and stored conversations alike) ---------------------------------------
_ITEMS: Any = None


def _item_adapter() -> Any:
    global _ITEMS
    if _ITEMS is None:
        from pydantic import TypeAdapter

        _ITEMS = TypeAdapter(list[InputItem])
    return _ITEMS


def stored_items(items: list[dict[str, Any]]) -> list[Any]:
    """Items kept in a stored conversation, parsed again (they were validated when they were kept)."""
    return _item_adapter().validate_python(items)


def conversation(instructions: str | None, items: list[Any]) -> list[Message]:
    """The neutral messages of `instructions` and `items`: a message per message item, function calls joined to
    the assistant turn before them, a tool message per function call output, reasoning items left out. A call
    output must answer a call made earlier in the conversation (400 naming it)."""
    messages: list[Message] = [Message("system", instructions)] if instructions and instructions.strip() else []
    calls: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, MessageItem):
            role = "system" if item.role == "developer" else item.role
            content = item.parts()
            if content:  # an empty assistant message says nothing (and Anthropic refuses empty turns)
                messages.append(Message(role, content))
        elif isinstance(item, FunctionCallItem):
            call = ToolCall(item.call_id, item.name, item.arguments or "{}")
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                last.tool_calls = [*(last.tool_calls or ()), call]
            else:
                messages.append(Message("assistant", None, [call]))
            calls.add(item.call_id)
        elif isinstance(item, FunctionCallOutputItem):
            if item.call_id not in calls:
                raise GatewayError(400, "invalid_request", f"input[{index}].call_id: no function_call with call_id "
                                   f"'{item.call_id}' comes before this output", field=f"input[{index}].call_id")
            messages.append(Message("tool", item.parts(), tool_call_id=item.call_id))
    if not any(m.role in ("user", "assistant") for m in messages):
        raise GatewayError(400, "invalid_request", "input: needs a user or assistant message", field="input")
    return messages


# -- the answer: output items, the Response object --------------------------------------------------------------
def response_id(ctx: RequestContext) -> str:
    return f"resp_{ctx.id}"


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens,
                                     "cache_write_tokens": usage.cache_write_tokens},
            "output_tokens": usage.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.input_tokens + usage.output_tokens}


def message_item(item_id: str, text: str, status: str = "completed",
                 logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}]}


def call_item(item_id: str, call: ToolCallOut | None, call_id: str = "", name: str = "", arguments: str = "",
              status: str = "completed") -> dict[str, Any]:
    if call is not None:
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def output_items(ctx: RequestContext, result: CompletionResponse) -> list[dict[str, Any]]:
    """An answer's output: its text as one message, then one function_call item per call."""
    items = [message_item(f"msg_{ctx.id}", result.text, logprobs=result.logprobs)] if result.text or \
        not result.tool_calls else []
    items += [call_item(f"fc_{ctx.id}_{index}", call) for index, call in enumerate(result.tool_calls or ())]
    return items


def _status(finish_reason: str) -> tuple[str, dict[str, str] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(ctx: RequestContext, turn: ResponsesTurn, model: str, status: str, output: list[dict[str, Any]],
                    usage: Usage | None = None, incomplete: dict[str, str] | None = None,
                    error: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": response_id(ctx), "object": "response", "created_at": int(time.time()), "status": status,
            "error": error, "incomplete_details": incomplete, "model": model, "output": output,
            "usage": _usage(usage), "store": turn.kept, **turn.echo}


def _summary(response: CompletionResponse, route: bool = False) -> dict[str, Any]:
    summary: dict[str, Any] = {"cost_usd": response.cost_usd, "latency_ms": response.latency_ms,
                               "cached": response.cached}
    if response.dropped:
        summary["dropped"] = response.dropped
    if route:
        summary["route"] = response.route.model_dump(mode="json")
    return summary


class ResponsesDoor:
    name = "openai"

    def parse(self, body: bytes, incoming: Incoming) -> ResponsesTurn:
        return parse_body(ResponsesRequest, body).to_turn()

    async def prepare(self, runtime: Any, ctx: RequestContext, turn: ResponsesTurn) -> None:
        """Continue a stored conversation (`previous_response_id`), and get ready to keep this one (`store`)."""
        if turn.previous_id is None and not turn.store:
            return
        turn.conversations = Conversations.of(runtime.redis, ctx.caller.tenant,
                                              "previous_response_id" if turn.previous_id else "store")
        if turn.previous_id is not None:
            turn.history = await turn.conversations.load(turn.previous_id)
            turn.messages = conversation(turn.instructions, [*stored_items(turn.history), *turn.inputs])

    async def keep(self, ctx: RequestContext, turn: ResponsesTurn, result: CompletionResponse) -> None:
        await self._keep(ctx, turn, output_items(ctx, result))

    @staticmethod
    async def _keep(ctx: RequestContext, turn: ResponsesTurn, output: list[dict[str, Any]]) -> None:
        if turn.store and turn.conversations is not None:
            turn.kept = await turn.conversations.save(response_id(ctx), [*turn.history, *turn.items, *output])

    def encode(self, ctx: RequestContext, turn: ResponsesTurn, result: CompletionResponse) -> Encoded:
        status, incomplete = _status(result.finish_reason)
        body = response_object(ctx, turn, f"{result.provider}/{result.model}", status, output_items(ctx, result),
                               result.usage, incomplete)
        body["switchboard"] = _summary(result)
        return 200, {"x-switchboard-route": route_header(result.route)}, orjson.dumps(body)

    async def stream(self, ctx: RequestContext, turn: ResponsesTurn, first: StreamStarted,
                     items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]:
        """The API's event order: response.created, response.in_progress; per output item added → (content
        part added → text deltas → text done → part done | argument deltas → arguments done) → item done; then
        response.completed (or .incomplete). A stream cut after its first token ends with an `error` event and
        response.failed, never a completed response."""
        events = _Events(ctx, turn, f"{first.provider}/{first.model}")
        yield events.lifecycle("response.created", "in_progress")
        yield events.lifecycle("response.in_progress", "in_progress")
        async for item in items:
            if isinstance(item, TextDelta) and item.choice == 0:
                for chunk in events.text(item.text):
                    yield chunk
            elif isinstance(item, ToolCallDelta) and item.choice == 0:
                for chunk in events.call(item):
                    yield chunk
            elif isinstance(item, StreamFinished):
                for chunk in events.close():
                    yield chunk
                response = item.response
                output = events.final_output(response)
                await self._keep(ctx, turn, output)
                status, incomplete = _status(response.finish_reason)
                body = response_object(ctx, turn, events.model, status, output, response.usage, incomplete)
                body["switchboard"] = _summary(response, route=True)
                yield events.event(f"response.{status}", {"response": body})
            elif isinstance(item, StreamFailed):
                detail = item.error.body.error
                yield events.event("error", {"code": detail.code, "message": detail.message, "param": None})
                body = response_object(ctx, turn, events.model, "failed", events.partial_output(),
                                       error={"code": "server_error", "message": detail.message})
                if item.error.body.route is not None:
                    body["switchboard"] = {"route": item.error.body.route.model_dump(mode="json")}
                yield events.event("response.failed", {"response": body})


@dataclass
class _Events:
    """One streamed response's typed events: sequence numbers, and the output items opened and closed in order."""

    ctx: RequestContext
    turn: ResponsesTurn
    model: str
    sequence: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)  # items as streamed so far
    open: int | None = None  # the output index of the item being streamed
    calls: dict[int, int] = field(default_factory=dict)  # tool-call index → output index

    def event(self, kind: str, data: dict[str, Any]) -> bytes:
        chunk = sse.event(kind, {"type": kind, "sequence_number": self.sequence, **data})
        self.sequence += 1
        return chunk

    def lifecycle(self, kind: str, status: str) -> bytes:
        return self.event(kind, {"response": response_object(self.ctx, self.turn, self.model, status, [])})

    def _add(self, item: dict[str, Any]) -> list[bytes]:
        chunks = self.close()
        self.open = len(self.output)
        self.output.append(item)
        return chunks + [self.event("response.output_item.added", {"output_index": self.open, "item": item})]

    def text(self, text: str) -> list[bytes]:
        chunks: list[bytes] = []
        if self.open is None or self.output[self.open]["type"] != "message":
            item = message_item(f"msg_{self.ctx.id}" + (f"_{len(self.output)}" if self.output else ""), "",
                                "in_progress")
            item["content"] = []
            chunks += self._add(item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            item["content"].append(dict(part))
            chunks.append(self.event("response.content_part.added", {
                "item_id": item["id"], "output_index": self.open, "content_index": 0, "part": part}))
        item = self.output[self.open]  # type: ignore[index]
        item["content"][0]["text"] += text
        chunks.append(self.event("response.output_text.delta", {
            "item_id": item["id"], "output_index": self.open, "content_index": 0, "delta": text, "logprobs": []}))
        return chunks

    def call(self, delta: ToolCallDelta) -> list[bytes]:
        chunks: list[bytes] = []
        if delta.index not in self.calls:
            item = call_item(f"fc_{self.ctx.id}_{delta.index}", None, delta.id or f"call_{delta.index}",
                             delta.name or "", "", "in_progress")
            chunks += self._add(item)
            self.calls[delta.index] = self.open  # type: ignore[assignment]
        index = self.calls[delta.index]
        if delta.arguments and index == self.open:  # a late piece of a closed call: the final response has it
            self.output[index]["arguments"] += delta.arguments
            chunks.append(self.event("response.function_call_arguments.delta", {
                "item_id": self.output[index]["id"], "output_index": index, "delta": delta.arguments}))
        return chunks

    def close(self) -> list[bytes]:
        """Finish the open item: its done events, in order."""
        if self.open is None:
            return []
        index, self.open = self.open, None
        item = self.output[index]
        item["status"] = "completed"
        chunks = []
        if item["type"] == "message":
            part = item["content"][0]
            chunks.append(self.event("response.output_text.done", {
                "item_id": item["id"], "output_index": index, "content_index": 0, "text": part["text"],
                "logprobs": []}))
            chunks.append(self.event("response.content_part.done", {
                "item_id": item["id"], "output_index": index, "content_index": 0, "part": part}))
        else:
            chunks.append(self.event("response.function_call_arguments.done", {
                "item_id": item["id"], "output_index": index, "arguments": item["arguments"]}))
        chunks.append(self.event("response.output_item.done", {"output_index": index, "item": item}))
        return chunks

    def final_output(self, response: CompletionResponse) -> list[dict[str, Any]]:
        """The output as streamed, each call's arguments as the answer has them whole; a cache replay or an
        answer that streamed nothing gets the answer's own items."""
        if not self.output:
            return output_items(self.ctx, response)
        calls = {call_index: call for call_index, call in enumerate(response.tool_calls or ())}
        for call_index, index in self.calls.items():
            if call_index in calls:
                self.output[index]["arguments"] = calls[call_index].function.arguments
        if response.logprobs and self.output[0]["type"] == "message":
            self.output[0]["content"][0]["logprobs"] = response.logprobs
        return self.output

    def partial_output(self) -> list[dict[str, Any]]:
        return [{**item, "status": "incomplete" if index == self.open else item["status"]}
                for index, item in enumerate(self.output)]
