"""The one error a request can end in, and the one place that maps engine outcomes to HTTP statuses."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from pydantic import ValidationError

from switchboard.schema import NOT_CALLED, Attempt, ErrorDetail, ErrorResponse, Outcome, Route


class GatewayError(Exception):
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
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body = ErrorResponse(error=ErrorDetail(code=code, message=message, field=field, step=step), route=route)

    @property
    def code(self) -> str:
        return self.body.error.code


class ChainFailed(Exception):
    """The engine walked the whole chain without an answer (the attempts say why)."""

    def __init__(self, attempts: Sequence[Attempt], retry_in_s: float | None = None) -> None:
        super().__init__("no target answered")
        self.attempts = list(attempts)
        self.retry_in_s = retry_in_s  # every target was skipped and the first breaker probes in this long


class StreamBroken(Exception):
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
    """The first validation problem, with the field it is about."""
    first = error.errors()[0]
    field, message = located(first["loc"], first["msg"])
    field = (prefix + field) if field else prefix.rstrip(".")
    return GatewayError(422, "invalid_request", f"{field}: {message}" if field else message, field=field or None)


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
                            f"no target could be called (no key, open circuit or unavailable): {listed}",
                            route=route, headers=headers)
    return GatewayError(502, "all_targets_failed", f"every target in the route failed: {listed}", route=route)


def broken_stream_error(broken: StreamBroken, route: Route) -> GatewayError:
    return GatewayError(502, "stream_interrupted", f"{broken.target} failed mid-stream: {broken.detail}", route=route)


def client_closed(route: Route | None) -> GatewayError:
    return GatewayError(499, "client_closed", "the client went away", route=route)


class RouteRefused(Exception):
    """A rule cannot route the request as asked: an unknown task type or model, or a model the caller
    may not pin. `code` says which; `route_error` gives it its status."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


ROUTE_STATUSES = {"unknown_task_type": 422, "model_not_found": 404, "model_not_allowed": 403}


def route_error(refused: RouteRefused) -> GatewayError:
    return GatewayError(ROUTE_STATUSES[refused.code], refused.code, str(refused), field=refused.field)
