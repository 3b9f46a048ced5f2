"""`Switchboard`: the library. Route, execute, price, explain and record one request; no HTTP server needed.

    import asyncio
    from switchboard import Switchboard

    async def main() -> None:
        async with Switchboard.from_config() as sb:
            response = await sb.complete("Write a haiku", task_type="creative_writing")
            print(response.provider, response.text)

    asyncio.run(main())
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

from opentelemetry.context import Context
from pydantic import ValidationError

from switchboard.config import GatewayConfig, load_config
from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext, new_request_id
from switchboard.core.errors import GatewayError, invalid_request
from switchboard.core.events import StreamItem
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.core.response import CompletionResponse, DecideResponse, EmbeddingResponse, PipelineResult
from switchboard.schema import CompleteRequest
from switchboard.settings import Settings
from switchboard.wiring import Runtime

Messages = list[dict[str, Any]]


class RequestOptions(TypedDict, total=False):
    """What `complete` and `stream` accept besides the text (the fields of `POST /complete`)."""

    messages: Messages | None
    task_type: str | None
    model: str | None
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    stop: str | list[str] | None
    seed: int | None
    tools: list[dict[str, Any]] | None
    tool_choice: str | dict[str, Any] | None
    response_format: dict[str, Any] | None
    timeout_s: float | None
    metadata: dict[str, str | int | float | bool] | None
    cache: bool | None


class Switchboard:
    def __init__(self, config: GatewayConfig | None = None, env: Mapping[str, str] | None = None) -> None:
        settings = Settings.from_env(env)
        self.runtime = Runtime(config or load_config(env=settings.env), settings)

    @property
    def config(self) -> GatewayConfig:
        """The config in force (a reload swaps it)."""
        return self.runtime.config

    @classmethod
    def from_config(cls, path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Switchboard:
        settings = Settings.from_env(env)
        return cls(load_config(path, settings.env), settings.env)

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.runtime.start()

    async def close(self) -> None:
        await self.runtime.close()

    async def __aenter__(self) -> Switchboard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests -----------------------------------------------------------------------------------
    async def complete(self, text: str | None = None, **options: Unpack[RequestOptions]) -> CompletionResponse:
        """One request, answered whole. Raises `GatewayError` (with `.status` and `.body`) when no answer comes."""
        request = _request(text, options)
        return await self.runtime.flow.complete(self._context(request), request)

    def stream(self, text: str | None = None, **options: Unpack[RequestOptions]) -> AsyncIterator[StreamItem]:
        """One request, streamed: `StreamStarted`, then `TextDelta`s (and `ToolCallDelta`s), then `StreamFinished`
        (the whole response) or `StreamFailed`. A failure before the first token raises `GatewayError` from the
        first iteration."""
        request = _request(text, options, stream=True)
        return self.runtime.flow.stream(self._context(request), request)

    async def decide(
        self,
        text: str | None = None,
        *,
        messages: Messages | None = None,
        task_type: str | None = None,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> DecideResponse:
        """The route a request would take (chain, rule, reason, the classifier's view), calling no provider."""
        request = _request(text, {"messages": messages, "task_type": task_type, "model": model, "tools": tools})
        return await self.runtime.flow.decide(self._context(request), request)

    async def embed(
        self,
        inputs: str | list[str],
        *,
        model: str,
        dimensions: int | None = None,
        input_type: Literal["search_document", "search_query", "classification", "clustering"] | None = None,
        timeout_s: float | None = None,
    ) -> EmbeddingResponse:
        """Vectors for `inputs` from an embedding route (`model` is its name, or provider/model)."""
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        if not texts or not all(isinstance(t, str) and t for t in texts):
            raise GatewayError(422, "invalid_request", "inputs: one or more non-empty strings", field="inputs")
        request = EmbeddingRequest(texts, model, dimensions, "float", input_type, timeout_s=timeout_s)
        return await self.runtime.flow.embed(self._context(request), request)

    async def run_pipeline(self, name: str, *, timeout_s: float | None = None, **inputs: str) -> PipelineResult:
        """Run a declared pipeline and wait for it: `await sb.run_pipeline("blog_post", topic="...")`."""
        return await self.runtime.pipelines.run(name, inputs, run_id=new_request_id(), timeout_s=timeout_s,
                                                caller=self._caller())

    async def feedback(self, request_id: str, *, score: float | None = None, thumbs: str | None = None,
                       comment: str | None = None) -> dict[str, Any]:
        """Rate an answer this process gave (`response.id`): a score from 0 to 1, or thumbs "up" / "down"."""
        from switchboard.operations.feedback import Feedback, record_feedback

        body = {"request_id": request_id, "score": score, "thumbs": thumbs, "comment": comment}
        try:
            rating = Feedback.model_validate({k: v for k, v in body.items() if v is not None})
        except ValidationError as error:
            raise invalid_request(error) from None
        caller = self._caller()
        return record_feedback(caller, rating, self.runtime.auth.ids.owned(request_id, caller.tenant))

    async def readiness(self) -> dict[str, str]:
        return await self.runtime.readiness()

    # -- pieces -------------------------------------------------------------------------------------
    def _caller(self) -> Caller:
        """A library caller is trusted like the admin key when one is set (it runs with the provider keys)."""
        auth = self.runtime.auth
        return auth.admin if auth.required else auth.anonymous

    def _context(self, request: Request | EmbeddingRequest, trace: Context | None = None) -> RequestContext:
        self.runtime.session()  # not started: say so now, before anything is recorded
        caller = self._caller()
        return RequestContext(id=self.runtime.auth.ids.new(caller.tenant), front_door="library", caller=caller,
                              trace=trace)


def _request(text: str | None, options: Mapping[str, Any], stream: bool = False) -> Request:
    body = {name: value for name, value in options.items() if value is not None}
    if text is not None:
        body["text"] = text
    if stream:
        body["stream"] = True
    try:
        return CompleteRequest.model_validate(body).to_request()
    except ValidationError as error:
        raise invalid_request(error) from None
