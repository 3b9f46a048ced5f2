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
from typing import Any, Literal

from opentelemetry.context import Context
from pydantic import ValidationError

from switchboard.callers.model import Caller
from switchboard.config import GatewayConfig, load_config
from switchboard.engine.context import RequestContext, new_request_id
from switchboard.errors import GatewayError, invalid_request
from switchboard.flow import StreamItem
from switchboard.request import EmbeddingRequest, Request
from switchboard.schema import (
    CompleteRequest,
    CompletionResponse,
    DecideResponse,
    EmbeddingResponse,
    PipelineResult,
)
from switchboard.settings import Settings
from switchboard.wiring import Runtime

Messages = list[dict[str, Any]]


class Switchboard:
    def __init__(self, config: GatewayConfig | None = None, env: Mapping[str, str] | None = None) -> None:
        settings = Settings.from_env(env)
        self.runtime = Runtime(config or load_config(env=settings.env), settings)
        self.config = self.runtime.config

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
    async def complete(
        self,
        text: str | None = None,
        *,
        messages: Messages | None = None,
        task_type: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        metadata: dict[str, str | int | float | bool] | None = None,
        cache: bool | None = None,
    ) -> CompletionResponse:
        """One request, answered whole. Raises `GatewayError` (with `.status` and `.body`) when no answer comes."""
        request = _request(locals())
        return await self.runtime.flow.complete(self._context(request), request)

    def stream(
        self,
        text: str | None = None,
        *,
        messages: Messages | None = None,
        task_type: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        metadata: dict[str, str | int | float | bool] | None = None,
        cache: bool | None = None,
    ) -> AsyncIterator[StreamItem]:
        """One request, streamed: `StreamStarted`, then `TextDelta`s (and `ToolCallDelta`s), then `StreamFinished`
        (the whole response) or `StreamFailed`. A failure before the first token raises `GatewayError` from the
        first iteration."""
        request = _request({**locals(), "stream": True})
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
        request = _request(locals())
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

    async def readiness(self) -> dict[str, str]:
        return await self.runtime.readiness()

    # -- pieces -------------------------------------------------------------------------------------
    def _caller(self) -> Caller:
        """A library caller is trusted like the admin key when one is set (it runs with the provider keys)."""
        auth = self.runtime.auth
        return auth.admin if auth.required else auth.anonymous

    def _context(self, request: Request | EmbeddingRequest, trace: Context | None = None) -> RequestContext:
        self.runtime.session()  # not started: say so now, before anything is recorded
        ctx = RequestContext(front_door="library", caller=self._caller(), trace=trace, metadata=request.metadata)
        self.runtime.telemetry.start(ctx)
        return ctx


def _request(fields: dict[str, Any]) -> Request:
    body = {name: value for name, value in fields.items() if name != "self" and value is not None}
    try:
        return CompleteRequest.model_validate(body).to_request()
    except ValidationError as error:
        raise invalid_request(error) from None
