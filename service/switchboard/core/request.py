"""The one request model: what every front door parses into and every adapter translates from.

Plain dataclasses, built after validation (the front doors validate their own wire shapes with pydantic), so
building one costs next to nothing. Messages carry content parts (text, images), tool calls and tool
results; the request carries tools, the response format and every sampling parameter a client may send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from switchboard.core.capability import Capability

Role = Literal["system", "user", "assistant", "tool"]
CHARS_PER_TOKEN = 4  # the usual rule of thumb; only for estimates (context windows, missing usage)
# Upper bounds, for reservations against limits and budgets (a reservation must not be below the real use):
# byte-level BPE tokenizers (OpenAI's, Anthropic's, Cohere's, Llama's) never make more tokens than UTF-8 bytes;
# a message's framing costs a few tokens more; an image costs at most about 1,600 tokens on every provider we
# speak (Anthropic's 1.15 megapixel cap, OpenAI's high detail at 1,105 for 1024x1024), so 2,000 is a bound.
TOKENS_PER_MESSAGE = 8
TOKENS_PER_IMAGE = 2000
PART_SEPARATOR = "\n"  # between text parts, where a protocol takes a single string


@dataclass(slots=True)
class TextPart:
    text: str


@dataclass(slots=True)
class ImagePart:
    url: str  # http(s) or a data: URI
    detail: str | None = None

    @property
    def data_uri(self) -> tuple[str, str] | None:
        """(media type, base64 data) for a data: URI, else None."""
        if not self.url.startswith("data:"):
            return None
        header, _, data = self.url[5:].partition(",")
        return header.removesuffix(";base64"), data


Part = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, as a string (OpenAI's form; validated by the front door)


@dataclass(slots=True)
class Message:
    role: Role
    content: str | list[Part] | None
    tool_calls: list[ToolCall] | None = None  # assistant
    tool_call_id: str | None = None  # tool: the call this answers
    name: str | None = None

    def text(self) -> str:
        """The text of the message (image parts left out), parts joined by PART_SEPARATOR: for a protocol
        that takes one string where the client sent parts ("Say" + "again" is not "Sayagain")."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return PART_SEPARATOR.join(part.text for part in self.content if isinstance(part, TextPart))

    def parts(self) -> list[Part]:
        if self.content is None:
            return []
        return [TextPart(self.content)] if isinstance(self.content, str) else self.content


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema object
    strict: bool | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None  # mode "function": the tool it must call


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Request:
    """A chat request, whichever front door it came through."""

    messages: list[Message]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    n: int = 1
    logprobs: bool = False
    top_logprobs: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    reasoning_effort: str | None = None
    reasoning_budget: int | None = None  # an explicit thinking budget in tokens (Anthropic clients), with its effort
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    # Routing and handling, not sent upstream.
    task_type: str | None = None
    model: str | None = None  # the client's `model`: auto, a task type, or provider/model
    metadata: dict[str, Any] | None = None
    timeout_s: float | None = None
    stream: bool = False
    stream_usage: bool = False  # OpenAI clients: a usage chunk at the end of the stream (stream_options)
    cache: bool | None = None  # False: neither read nor write the cache; True: cache even a sampled answer
    cache_read: bool = True  # Cache-Control: no-cache turns reading off ...
    cache_write: bool = True  # ... and no-store writing
    pipeline_step: tuple[str, str] | None = None  # (pipeline, step) when a pipeline runs this request
    dropped: list[str] = field(default_factory=list)  # parameters dropped for the target that answered
    _input_tokens: int | None = field(default=None, init=False, repr=False, compare=False)

    def needs(self) -> frozenset[Capability]:
        """The capabilities a target must have to serve this request."""
        needed: set[Capability] = set()
        if self.tools or any(m.tool_calls or m.role == "tool" for m in self.messages):
            needed.add(Capability.TOOLS)
        if any(isinstance(p, ImagePart) for m in self.messages if isinstance(m.content, list) for p in m.content):
            needed.add(Capability.VISION)
        if self.response_format is not None and self.response_format.type != "text":
            needed.add(Capability.JSON_SCHEMA)
        if self.logprobs:
            needed.add(Capability.LOGPROBS)
        if self.n > 1:
            needed.add(Capability.MULTIPLE_CHOICES)
        if self.seed is not None:
            needed.add(Capability.SEED)
        if self.frequency_penalty is not None or self.presence_penalty is not None:
            needed.add(Capability.PENALTIES)
        if self.logit_bias:
            needed.add(Capability.LOGIT_BIAS)
        if self.reasoning_effort is not None:
            needed.add(Capability.REASONING)
        return frozenset(needed)

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""

    def estimated_input_tokens(self) -> int:
        """Computed once: target fit, limits and cost estimates all ask (a copy made by `without` counts anew)."""
        if self._input_tokens is None:
            chars = sum(len(m.text()) + sum(len(c.arguments) for c in m.tool_calls or ()) for m in self.messages)
            chars += sum(len(t.name) + len(t.description or "") + len(str(t.parameters or ""))
                         for t in self.tools or ())
            self._input_tokens = -(-chars // CHARS_PER_TOKEN)
        return self._input_tokens

    def input_token_bound(self) -> int:
        """At least as many input tokens as any provider will count for this request (see TOKENS_PER_IMAGE)."""
        total = 0
        for message in self.messages:
            total += TOKENS_PER_MESSAGE + sum(len(c.arguments.encode()) + len(c.name) for c in message.tool_calls or ())
            if isinstance(message.content, str):
                total += len(message.content.encode())
            elif message.content is not None:
                for part in message.content:
                    total += TOKENS_PER_IMAGE if isinstance(part, ImagePart) else len(part.text.encode())
        for tool in self.tools or ():
            total += len(tool.name) + len((tool.description or "").encode()) + len(str(tool.parameters or "").encode())
        return total

    def without(self, capabilities: frozenset[Capability]) -> Request:
        """A copy with the parameters behind droppable `capabilities` removed (and listed in `dropped`)."""
        from dataclasses import replace

        changes: dict[str, Any] = {}
        names: list[str] = []
        if Capability.SEED in capabilities:
            changes["seed"] = None
            names.append("seed")
        if Capability.PENALTIES in capabilities:
            changes.update(frequency_penalty=None, presence_penalty=None)
            names += [n for n in ("frequency_penalty", "presence_penalty") if getattr(self, n) is not None]
        if Capability.LOGIT_BIAS in capabilities:
            changes["logit_bias"] = None
            names.append("logit_bias")
        if Capability.REASONING in capabilities:
            changes.update(reasoning_effort=None, reasoning_budget=None)
            names.append("reasoning_effort")
        if Capability.LOGPROBS in capabilities:
            changes.update(logprobs=False, top_logprobs=None)
            names.append("logprobs")
        return replace(self, **changes, dropped=[*self.dropped, *names])


@dataclass(slots=True)
class EmbeddingRequest:
    inputs: list[str]
    model: str  # an embedding route's name, or provider/model
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"
    input_type: str | None = None  # Cohere's search_document / search_query / ...
    user: str | None = None
    metadata: dict[str, Any] | None = None
    timeout_s: float | None = None
    dropped: list[str] = field(default_factory=list)  # fields the client sent that were not used
    tokens: list[list[int]] | None = None  # token arrays instead of `inputs` (OpenAI clients' tiktoken ids)

    def count(self) -> int:
        return len(self.tokens) if self.tokens is not None else len(self.inputs)

    def estimated_input_tokens(self) -> int:
        if self.tokens is not None:
            return sum(len(ids) for ids in self.tokens)
        return -(-sum(len(text) for text in self.inputs) // CHARS_PER_TOKEN)

    def input_token_bound(self) -> int:
        if self.tokens is not None:
            return sum(len(ids) for ids in self.tokens)
        return sum(len(text.encode()) for text in self.inputs)
