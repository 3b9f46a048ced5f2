"""Every endpoint, declared once: its method and path, the front door (or handler) that serves it, and what the
OpenAPI document says of it (summary, request body, success status and body). The error shape follows from the
path (`doors.shape_of`), unless an endpoint declares its own. The app routes by this table and the OpenAPI
document is built from it; adding an endpoint is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from switchboard.callers.admin import KeySpec
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.response import CompletionResponse, DecideResponse, PipelineResult
from switchboard.http import (
    admin,
    anthropic,
    complete,
    console,
    feedback,
    observe,
    openai,
    operations,
    pipelines,
    responses,
)
from switchboard.http.anthropic import MessagesRequest
from switchboard.http.asgi import Receive, Scope, Send, encode_headers, send_body
from switchboard.http.doors import ErrorShape, shape_of
from switchboard.http.observe import AdminDecideRequest
from switchboard.http.openai import ChatCompletionRequest, CompletionRequest, EmbeddingsBody
from switchboard.http.openapi import document
from switchboard.http.operations import DrainRequest, ForceRequest, RestoreRequest
from switchboard.http.pipelines import PipelineRequest
from switchboard.operations.feedback import Feedback
from switchboard.schema import CompleteRequest
from switchboard.wiring import Runtime


class Served(Protocol):
    """What a handler may use of the app that serves it (`http.app.App`)."""

    runtime: Runtime

    async def healthz(self, send: Send, ctx: RequestContext) -> None: ...

    async def readyz(self, scope: Scope, send: Send, ctx: RequestContext) -> None: ...

    async def metrics_text(self) -> tuple[bytes, str]: ...


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {name} is one path segment; {name:path} the rest of the path
    handler: Any  # a front door (parse/encode, run by the shared sequence), or `async (app, scope, receive, send, ctx)`
    summary: str
    body: type[BaseModel] | None = None
    status: int = 200
    answer: type[BaseModel] | None = None
    probe: bool = False  # a health probe: no key, no shedding
    public: bool = False  # no key: the console's page, its assets and its sign-in (which checks the key itself)
    errors: ErrorShape = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.errors is None:
            object.__setattr__(self, "errors", shape_of(self.path))

    @property
    def door(self) -> bool:
        return hasattr(self.handler, "parse")


async def _models(app: Served, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    router = app.runtime.router
    names = ["auto", *router.task_types, *router.pinnable, *router.embedding_models, *router.pinnable_embeddings]
    body = {"object": "list", "data": [_model_entry(name) for name in names]}
    await send_body(send, 200, orjson.dumps(body), encode_headers({"x-request-id": ctx.echo_id}))


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": name.split("/", 1)[0] if "/" in name
            else "switchboard"}


async def _model(app: Served, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    router = app.runtime.router
    name = scope["path_params"]["model_id"]
    known = {"auto", *router.task_types, *router.pinnable, *router.embedding_models, *router.pinnable_embeddings}
    if name in known:
        entry = _model_entry(name)
    elif name in router.bare:  # a bare name, as the chat request accepts it
        entry = {**_model_entry(router.bare[name]), "id": name}
    else:
        raise GatewayError(404, "model_not_found", f"The model '{name}' does not exist", field="model")
    await send_body(send, 200, orjson.dumps(entry), encode_headers({"x-request-id": ctx.echo_id}))


async def _metrics(app: Served, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    body, content_type = await app.metrics_text()
    await send_body(send, 200, body, encode_headers({"x-request-id": ctx.echo_id}),
                    (b"content-type", content_type.encode()))


async def _openapi(app: Served, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    await send_body(send, 200, _openapi_body(), encode_headers({"x-request-id": ctx.echo_id}))


@cache
def _openapi_body() -> bytes:
    return orjson.dumps(document(ENDPOINTS))


async def _healthz(app: Served, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    await app.healthz(send, ctx)


async def _readyz(app: Served, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    await app.readyz(scope, send, ctx)


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/complete", complete.CompleteDoor(),
             "Answer a request (the standard response)", body=CompleteRequest, answer=CompletionResponse),
    Endpoint("POST", "/decide", complete.DecideDoor(),
             "The route a request would take, calling no provider", body=CompleteRequest, answer=DecideResponse),
    Endpoint("POST", "/feedback", feedback.FeedbackDoor(), "Rate one of your own answers (a score or thumbs)",
             body=Feedback, status=202),
    Endpoint("POST", "/v1/chat/completions", openai.ChatDoor(),
             "OpenAI Chat Completions", body=ChatCompletionRequest),
    Endpoint("POST", "/v1/completions", openai.CompletionsDoor(),
             "OpenAI legacy Completions", body=CompletionRequest),
    Endpoint("POST", "/v1/embeddings", openai.EmbeddingsDoor(), "OpenAI Embeddings", body=EmbeddingsBody),
    Endpoint("POST", "/v1/responses", responses.ResponsesDoor(), "OpenAI Responses", body=responses.ResponsesRequest),
    Endpoint("POST", "/v1/messages", anthropic.MessagesDoor(), "Anthropic Messages", body=MessagesRequest),
    Endpoint("POST", "/v1/messages/count_tokens", anthropic.CountTokensDoor(),
             "Anthropic token count (estimated)", body=MessagesRequest),
    Endpoint("GET", "/v1/models", _models, "Models: auto, task types and provider/model"),
    Endpoint("GET", "/v1/models/{model_id:path}", _model, "One model"),
    Endpoint("GET", "/pipelines", pipelines.ListPipelinesDoor(), "Declared pipelines"),
    Endpoint("POST", "/pipelines/{name}", pipelines.RunPipelineDoor(),
             "Run a pipeline and wait", body=PipelineRequest, answer=PipelineResult),
    Endpoint("POST", "/pipelines/{name}/jobs", pipelines.SubmitJobDoor(),
             "Submit a durable pipeline job", body=PipelineRequest, status=202),
    Endpoint("GET", "/jobs/{job_id}", pipelines.GetJobDoor(), "A job's state"),
    Endpoint("GET", "/jobs/{job_id}/steps", pipelines.GetJobDoor(steps=True),
             "A job's steps finished so far (the submitting tenant or the admin key)"),
    Endpoint("POST", "/admin/keys", admin.KeysDoor("create"),
             "Mint an API key (admin key only)", body=KeySpec, status=201),
    Endpoint("GET", "/admin/keys", admin.KeysDoor("list"), "List API keys (admin key only)"),
    Endpoint("GET", "/admin/keys/{key_id}", admin.KeysDoor("show"),
             "One API key, with today's usage (admin key only)"),
    Endpoint("DELETE", "/admin/keys/{key_id}", admin.KeysDoor("revoke"),
             "Revoke an API key (admin key only)"),
    Endpoint("GET", "/admin/targets", operations.OperationsDoor("list"),
             "Every target: breaker, hold (drained or forced, by whom, why, until), recent error rate and p50 "
             "(admin key only)"),
    Endpoint("POST", "/admin/targets/drain", operations.OperationsDoor("drain"),
             "Take a provider or one target out of rotation, on every replica (admin key only)", body=DrainRequest),
    Endpoint("POST", "/admin/targets/restore", operations.OperationsDoor("restore"),
             "Put a provider or target back into rotation (admin key only)", body=RestoreRequest),
    Endpoint("POST", "/admin/targets/force", operations.OperationsDoor("force"),
             "Force a target's breaker open or closed (admin key only)", body=ForceRequest),
    Endpoint("POST", "/admin/config/reload", operations.OperationsDoor("reload"),
             "Re-read, validate and swap in the config file; a bad file changes nothing (admin key only)"),
    Endpoint("GET", "/admin/requests", observe.requests,
             "This replica's recent requests, newest first; ?tenant= &status= &provider= &after=SEQ &limit= "
             "(admin key or console session)"),
    Endpoint("GET", "/admin/requests/{request_id}", observe.request,
             "One recent request with its whole route (admin key or console session)"),
    Endpoint("GET", "/admin/overview", observe.overview,
             "The last hour by minute: requests, failures, latency and TTFT, spend, cache, shedding, strong share, "
             "savings (admin key or console session)"),
    Endpoint("GET", "/admin/config", observe.config,
             "The effective config (secrets masked), the rules in order, every chain (admin key or console "
             "session)"),
    Endpoint("POST", "/admin/decide", observe.DecideAsDoor(),
             "The route a request would take as a given key or tier (admin key or console session)",
             body=AdminDecideRequest, answer=DecideResponse),
    Endpoint("GET", "/admin/jobs", observe.jobs, "Durable jobs queued and running (admin key or console session)"),
    Endpoint("GET", "/admin/cache", observe.cache,
             "The response cache: entries, bytes, hit rates (admin key or console session)"),
    Endpoint("GET", "/console", console.page, "The operator console (sign in with the admin key)", public=True),
    Endpoint("GET", "/console/static/{asset:path}", console.asset, "The console's scripts and styles",
             public=True),
    Endpoint("POST", "/console/session", console.sign_in,
             "Sign in to the console with the admin key: a session cookie and the CSRF token", public=True),
    Endpoint("GET", "/console/session", console.session_info, "The console session: its CSRF token and expiry"),
    Endpoint("DELETE", "/console/session", console.sign_out, "Sign out of the console"),
    Endpoint("GET", "/metrics", _metrics, "Prometheus metrics (admin key, or --metrics-port)"),
    Endpoint("GET", "/openapi.json", _openapi, "This document"),
    Endpoint("GET", "/healthz", _healthz, "Liveness", probe=True),
    Endpoint("GET", "/readyz", _readyz, "Readiness of the process (200 while it can serve; ?strict=1: 503 "
             "when no target is ready), with every target's state", probe=True),
]
