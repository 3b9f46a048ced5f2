"""The OpenAPI document of every endpoint, built from the same pydantic models the front doors parse with
(the fuzzing tests generate requests from it)."""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from switchboard.callers.admin import KeySpec
from switchboard.http.anthropic import MessagesRequest
from switchboard.http.openai import ChatCompletionRequest, CompletionRequest, EmbeddingsBody
from switchboard.http.pipelines import PipelineRequest
from switchboard.schema import (
    CompleteRequest,
    CompletionResponse,
    DecideResponse,
    ErrorResponse,
    PipelineResult,
)

class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """Errors on /v1 (but /v1/messages): OpenAI's shape."""

    error: OpenAIErrorDetail


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicError(BaseModel):
    """Errors on /v1/messages: Anthropic's shape."""

    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = None


def error_model(path: str) -> type[BaseModel]:
    """The documented error body of a path (as `doors.error_shape` answers it)."""
    if path.startswith("/v1/messages"):
        return AnthropicError
    if path.startswith("/v1/"):
        return OpenAIError
    return ErrorResponse


# (method, path) -> (summary, request body model, success status, response model)
OPERATIONS: dict[tuple[str, str], tuple[str, type[BaseModel] | None, int, type[BaseModel] | None]] = {
    ("POST", "/complete"): ("Answer a request (the standard response)", CompleteRequest, 200, CompletionResponse),
    ("POST", "/decide"): ("The route a request would take, calling no provider", CompleteRequest, 200,
                          DecideResponse),
    ("POST", "/v1/chat/completions"): ("OpenAI Chat Completions", ChatCompletionRequest, 200, None),
    ("POST", "/v1/completions"): ("OpenAI legacy Completions", CompletionRequest, 200, None),
    ("POST", "/v1/embeddings"): ("OpenAI Embeddings", EmbeddingsBody, 200, None),
    ("POST", "/v1/messages"): ("Anthropic Messages", MessagesRequest, 200, None),
    ("POST", "/v1/messages/count_tokens"): ("Anthropic token count (estimated)", MessagesRequest, 200, None),
    ("GET", "/v1/models"): ("Models: auto, task types and provider/model", None, 200, None),
    ("GET", "/v1/models/{model_id:path}"): ("One model", None, 200, None),
    ("GET", "/pipelines"): ("Declared pipelines", None, 200, None),
    ("POST", "/pipelines/{name}"): ("Run a pipeline and wait", PipelineRequest, 200, PipelineResult),
    ("POST", "/pipelines/{name}/jobs"): ("Submit a durable pipeline job", PipelineRequest, 202, None),
    ("GET", "/jobs/{job_id}"): ("A job's state", None, 200, None),
    ("POST", "/admin/keys"): ("Mint an API key (admin key only)", KeySpec, 201, None),
    ("GET", "/admin/keys"): ("List API keys (admin key only)", None, 200, None),
    ("GET", "/admin/keys/{key_id}"): ("One API key, with today's usage (admin key only)", None, 200, None),
    ("DELETE", "/admin/keys/{key_id}"): ("Revoke an API key (admin key only)", None, 200, None),
    ("GET", "/metrics"): ("Prometheus metrics (admin key, or --metrics-port)", None, 200, None),
    ("GET", "/openapi.json"): ("This document", None, 200, None),
    ("GET", "/healthz"): ("Liveness", None, 200, None),
    ("GET", "/readyz"): ("Readiness: targets, shared state, draining", None, 200, None),
}
# The gateway's own failures a client may see on any model-calling endpoint.
PROVIDER_FAILURES = {"502": "every target failed", "503": "no target could be called, or overloaded",
                     "504": "the deadline passed"}


@cache
def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    models = {m for op in OPERATIONS.values() for m in (op[1], op[3]) if m is not None} | {
        ErrorResponse, OpenAIError, AnthropicError}
    refs, defs = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                    ref_template="#/components/schemas/{model}")
    return {model: ref for (model, _), ref in refs.items()}, defs.get("$defs", {})


def document(routes: list[tuple[str, str, Any]]) -> dict[str, Any]:
    refs, defs = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for method, route_path in [(m, p) for m, p, _ in routes] + [("GET", "/healthz"), ("GET", "/readyz")]:
        summary, body, status, answer = OPERATIONS[(method, route_path)]
        path = route_path.replace(":path}", "}")
        failure = refs[error_model(path)]
        error = {"description": "error", "content": {"application/json": {"schema": failure}}}
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": {str(status): {"description": "ok", "content": {"application/json": {
                "schema": refs[answer] if answer is not None else {}}}}, "default": error},
        }
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in _path_params(path)]
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs[body]}}}
            operation["responses"].update({code: {"description": why, "content": {"application/json": {
                "schema": failure}}} for code, why in PROVIDER_FAILURES.items()})
        paths.setdefault(path, {})[method.lower()] = operation
    return {"openapi": "3.1.0", "info": {"title": "Switchboard", "version": metadata.version("switchboard")}, "paths": paths,
            "components": {"schemas": defs}}


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
