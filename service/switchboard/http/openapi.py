"""The OpenAPI document of every endpoint, built from the endpoint table (`http/endpoints.py`) and the pydantic
models the front doors parse with (the fuzzing tests generate requests from it)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from pydantic.json_schema import models_json_schema

# The gateway's own failures a client may see on any model-calling endpoint.
PROVIDER_FAILURES = {"502": "every target failed", "503": "no target could be called, or overloaded",
                     "504": "the deadline passed"}


def _schemas(endpoints: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    models = {m for e in endpoints for m in (e.body, e.answer, e.errors.model) if m is not None}
    refs, defs = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                    ref_template="#/components/schemas/{model}")
    return {model: ref for (model, _), ref in refs.items()}, defs.get("$defs", {})


def document(endpoints: Sequence[Any]) -> dict[str, Any]:
    """The document for `endpoints` (`http.endpoints.ENDPOINTS`)."""
    refs, defs = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        method, summary, body, status, answer = (endpoint.method, endpoint.summary, endpoint.body, endpoint.status,
                                                 endpoint.answer)
        path = endpoint.path.replace(":path}", "}")
        failure = refs[endpoint.errors.model]
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
