"""The service's errors: one base class, the one error a request can end in (`GatewayError`) with the catalogue
of its codes, and the one place that maps engine outcomes to HTTP statuses (`chain_error`)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from switchboard.core.outcome import NOT_CALLED, Outcome
from switchboard.core.response import Attempt, Route


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    step: str | None = None  # the pipeline step that failed
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
    route: Route | None = None


# Every code a client can see in `error.code`, and what it means. A new code is added here first (a
# GatewayError with a code missing from this catalogue is a bug, refused at once); README and the
# OpenAPI description draw on it.
CODES: dict[str, str] = {
    "invalid_request": "a field is missing, of the wrong type or out of range (`field` names it)",
    "invalid_json": "the body is not a JSON object",
    "body_too_large": "the body is over the size limit",
    "body_timeout": "the body did not arrive within its read deadline",
    "unauthorized": "no API key, or an unknown, revoked or expired one",
    "forbidden": "the key may not do this (an admin endpoint, a tier a pipeline does not allow)",
    "csrf_refused": "a console call that changes state came without its CSRF token, or from another site",
    "not_found": "no such path",
    "method_not_allowed": "the path exists, with another method",
    "model_not_found": "no such model or embedding route",
    "model_not_allowed": "the key may not use this model (its allow-list or tier)",
    "unknown_task_type": "no route for this task type",
    "unknown_pipeline": "no such pipeline",
    "unknown_job": "no such job (or not this tenant's)",
    "unknown_key": "no such API key",
    "unknown_request": "no such request (or not this tenant's)",
    "unknown_response": "no such stored response (unknown, expired, or not this tenant's)",
    "idempotency_key_reused": "this Idempotency-Key was used for a different request",
    "idempotency_conflict": "the job this Idempotency-Key named has expired",
    "rate_limited": "over a requests- or tokens-per-minute limit; retry after Retry-After",
    "budget_exceeded": "today's budget is spent",
    "request_too_large": "one request needs more than a whole limit allows; no wait can help",
    "too_many_in_flight": "the key (or its tier) has its most requests in flight",
    "overloaded": "this worker is at its most requests in flight; retry shortly",
    "keys_unavailable": "API keys cannot be checked (the key store is unreachable)",
    "limits_unavailable": "limits cannot be checked and limits.on_redis_error is closed",
    "jobs_unavailable": "durable jobs need Redis, which is not configured or unreachable",
    "storage_unavailable": "stored state (Redis) is not configured or unreachable",
    "unsupported_capability": "no target in the route can serve what the request needs",
    "unsupported_parameter": "the request asks for something this front door does not serve",
    "upstream_bad_request": "every provider refused the request as invalid",
    "no_target_available": "no target could be called (no key, open breaker, drained, unavailable)",
    "all_targets_failed": "every target in the route failed",
    "deadline_exceeded": "the request's deadline passed",
    "stream_interrupted": "the stream broke after its first token",
    "client_closed": "the client went away before the answer",
    "config_invalid": "a new config file was refused; the running config is unchanged",
    "reload_unavailable": "this process has no config file to reload (it was given a config object)",
    "internal_error": "a bug: the log line has the traceback",
}


class SwitchboardError(Exception):
    """The base of every error the service raises on purpose."""


class GatewayError(SwitchboardError):
    """A request that ends without an answer: an HTTP status and the structured body to send."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        route: Route | None = None,
        step: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"error code '{code}' is not in core.errors.CODES")
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body = ErrorResponse(error=ErrorDetail(code=code, message=message, field=field, step=step), route=route)

    @property
    def code(self) -> str:
        return self.body.error.code


class ChainFailed(SwitchboardError):
    """The engine walked the whole chain without an answer (the attempts say why)."""

    def __init__(self, attempts: Sequence[Attempt], retry_in_s: float | None = None) -> None:
        super().__init__("no target answered")
        self.attempts = list(attempts)
        self.retry_in_s = retry_in_s  # every target was skipped and the first breaker probes in this long


class StreamBroken(SwitchboardError):
    """A stream failed after its commit point: the client has part of the answer."""

    def __init__(self, target: str, detail: str) -> None:
        super().__init__(detail)
        self.target = target
        self.detail = detail


RELATIVE = re.compile(r"^([A-Za-z_][\w\-]*(?:\[\d+\]|\.[A-Za-z_][\w\-]*)*): ")


def field_path(location: Sequence[int | str]) -> str:
    """A validation error's location in one path style: `messages[0].content[1].image_url.url`
    (config files alike: `routes.x[0].provider`)."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif ":" in part or part.startswith(("function-", "json-or-python")):
            continue  # a union's tag, not a field
        elif part == "[key]":
            path += " (the name)"
        else:
            path += f".{part}" if path else part
    return path


def located(location: Sequence[int | str], message: str) -> tuple[str, str]:
    """(field, message): a validator's own message may start with the field it is about, below `location`."""
    path = field_path(location)
    message = message.removeprefix("Value error, ")
    match = RELATIVE.match(message)
    if match:
        path = f"{path}.{match.group(1)}" if path else match.group(1)
        message = message[match.end():]
    return path, message


def invalid_request(error: ValidationError, prefix: str = "") -> GatewayError:
    """The first validation problem, with the field it is about: a 422, or a 400 for metadata over its bounds
    (a size refusal, as OpenAI answers it)."""
    first = error.errors()[0]
    field, message = located(first["loc"], first["msg"])
    field = (prefix + field) if field else prefix.rstrip(".")
    over_bounds = first["type"] == "value_error" and field.split(".", 1)[0].split("[", 1)[0] == "metadata"
    status = 400 if over_bounds else 422
    return GatewayError(status, "invalid_request", f"{field}: {message}" if field else message, field=field or None)


def chain_error(failure: ChainFailed, route: Route) -> GatewayError:
    """A walked chain without an answer, as the truthful status: 400, 504, 503 or 502."""
    attempts = failure.attempts
    outcomes = [a.outcome for a in attempts]
    listed = ", ".join(f"{a.provider}:{a.model} {a.outcome}" for a in attempts)
    if outcomes and all(outcome is Outcome.UNSUPPORTED for outcome in outcomes):
        missing = sorted({name for a in attempts for name in a.missing or ()})
        return GatewayError(400, "unsupported_capability",
                            f"no target in the route can serve this request: it needs {', '.join(missing)} "
                            f"({listed})", field=missing[0] if missing else None, route=route)
    called = [a for a in attempts if a.outcome not in NOT_CALLED]
    if called and all(a.outcome is Outcome.BAD_REQUEST for a in called):
        words = "; ".join(f"{a.provider}:{a.model}: {a.detail}" for a in called)
        return GatewayError(400, "upstream_bad_request", f"every provider refused the request: {words}",
                            route=route)
    if Outcome.DEADLINE_EXCEEDED in outcomes:
        return GatewayError(504, "deadline_exceeded",
                            f"the request's deadline passed before any target answered: {listed}", route=route)
    if all(outcome in NOT_CALLED for outcome in outcomes):
        headers = {}
        if failure.retry_in_s is not None:
            headers["retry-after"] = str(max(1, math.ceil(failure.retry_in_s)))
        return GatewayError(503, "no_target_available",
                            f"no target could be called (no key, open circuit, drained or unavailable): {listed}",
                            route=route, headers=headers)
    return GatewayError(502, "all_targets_failed", f"every target in the route failed: {listed}", route=route)


def broken_stream_error(broken: StreamBroken, route: Route) -> GatewayError:
    return GatewayError(502, "stream_interrupted", f"{broken.target} failed mid-stream: {broken.detail}", route=route)


def client_closed(route: Route | None) -> GatewayError:
    return GatewayError(499, "client_closed", "the client went away", route=route)


class RouteRefused(SwitchboardError):
    """A rule cannot route the request as asked: an unknown task type or model, or a model the caller
    may not pin. `code` says which; `route_error` gives it its status."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


ROUTE_STATUSES = {"unknown_task_type": 422, "model_not_found": 404, "model_not_allowed": 403}


def route_error(refused: RouteRefused) -> GatewayError:
    return GatewayError(ROUTE_STATUSES[refused.code], refused.code, str(refused), field=refused.field)
