"""`/admin/targets` and `/admin/config/reload`: operators take targets out of rotation and put them back, force a
breaker open or closed, see every target's state, and reload the config, with the admin key only. The CLI
(`switchboard targets`, `switchboard config reload`) and the console use this JSON API.

Holds are shared through Redis (every replica obeys within about a second); each change writes an operation
record, so `switchboard incident` puts it on the timeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.hold import Hold
from switchboard.http.admin import admin_only
from switchboard.http.doors import Encoded, Incoming, parse_body
from switchboard.operations.records import replica
from switchboard.operations.status import endpoints
from switchboard.wiring import Runtime

MAX_HOLD_S = 30 * 24 * 3600
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TargetScope(BaseModel):
    """A provider (`model` null: every model of it) or one of its models."""

    model_config = ConfigDict(extra="forbid")

    provider: Name
    model: Name | None = None
    by: Name | None = None  # who asks (the CLI sends the operator's login); else the key's id


class DrainRequest(TargetScope):
    reason: Text
    for_s: Annotated[float, Field(gt=0, le=MAX_HOLD_S)] | None = None  # expiry; null: until restored


class ForceRequest(DrainRequest):
    state: Literal["open", "closed"]


class RestoreRequest(TargetScope):
    reason: Text | None = None


def _scope(runtime: Runtime, request: TargetScope) -> tuple[str, list[str]]:
    """The scope's key, and the targets it covers; 422 naming the field for an unknown provider or model."""
    provider = runtime.config.providers.get(request.provider)
    if provider is None:
        raise GatewayError(422, "invalid_request", f"provider: unknown provider '{request.provider}' (known: "
                           f"{', '.join(sorted(runtime.config.providers))})", field="provider")
    if request.model is None:
        return request.provider, [f"{request.provider}:{model}" for model in provider.models]
    if request.model not in provider.models:
        raise GatewayError(422, "invalid_request", f"model: '{request.model}' is not a model of provider "
                           f"'{request.provider}' (known: {', '.join(provider.models)})", field="model")
    key = f"{request.provider}:{request.model}"
    return key, [key]


def _by(ctx: RequestContext, request: TargetScope) -> str:
    return request.by or ctx.caller.key_id or "admin"


def _sharing(runtime: Runtime) -> str:
    return ("shared through Redis: every replica obeys within about a second" if runtime.holds.shared
            else "this process only (no REDIS_URL)")


@dataclass(frozen=True, slots=True)
class PutHold:
    request: DrainRequest
    action: Literal["drain", "force"]

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx, "operate targets")
        scope, targets = _scope(runtime, self.request)
        now = time.time()
        action = ("drain" if self.action == "drain" else
                  "force_open" if isinstance(self.request, ForceRequest) and self.request.state == "open"
                  else "force_closed")
        hold = Hold(scope, action, self.request.reason, _by(ctx, self.request), now,
                    now + self.request.for_s if self.request.for_s is not None else None)
        replaced = await runtime.holds.put(hold)
        return {"hold": hold.public(), "replaced": replaced.public() if replaced is not None else None,
                "targets": targets, "sharing": _sharing(runtime)}


@dataclass(frozen=True, slots=True)
class Restore:
    request: RestoreRequest

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx, "operate targets")
        scope, targets = _scope(runtime, self.request)
        scopes = [scope, *targets] if self.request.model is None else [scope]  # a provider: its models too
        lifted = await runtime.holds.remove(scopes, _by(ctx, self.request), self.request.reason)
        return {"restored": [hold.public() for hold in lifted], "targets": targets, "sharing": _sharing(runtime)}


@dataclass(frozen=True, slots=True)
class ListTargets:
    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx, "operate targets")
        rows = await runtime.target_states(recent=True)
        return {"replica": replica(), "sharing": _sharing(runtime), "config_generation": runtime.generation,
                "targets": rows, "endpoints": endpoints(rows, runtime.recent),
                "holds": [hold.public() for hold in runtime.holds.active()]}


@dataclass(frozen=True, slots=True)
class Reload:
    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx, "reload the config")
        return {**await runtime.reload("api", by=ctx.caller.key_id), "replica": replica()}


class OperationsDoor:
    """The targets verbs and the reload: the action says which."""

    name = "admin"

    def __init__(self, action: Literal["list", "drain", "force", "restore", "reload"]) -> None:
        self.action = action

    def parse(self, body: bytes, incoming: Incoming) -> Any:
        if self.action == "list":
            return ListTargets()
        if self.action == "reload":
            return Reload()
        if self.action == "restore":
            return Restore(parse_body(RestoreRequest, body))
        if self.action == "force":
            return PutHold(parse_body(ForceRequest, body), "force")
        return PutHold(parse_body(DrainRequest, body), "drain")

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, orjson.dumps(result)
