"""What operators read, as admin JSON (the console's pages, and any script or CLI with the admin key): recent
requests and one request's whole route, the last hour's overview, the effective config, the decision a key or
tier would get, durable jobs, and the cache.

Recent requests and the overview are this replica's (`operations/recent_records.py`, in process memory); every
answer names the replica. Nothing here is on the request path.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel, ConfigDict, StringConstraints
from redis.exceptions import RedisError

from switchboard.callers.auth import Unauthorized
from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.http.admin import admin_only
from switchboard.http.asgi import Receive, Scope, Send, encode_headers, send_body
from switchboard.http.doors import Encoded, Incoming, parse_body
from switchboard.operations.recent_records import status_test
from switchboard.operations.records import replica
from switchboard.pipelines.jobs import QUEUE, RUNNING, public_view
from switchboard.redact import MASK, redact
from switchboard.schema import CompleteRequest
from switchboard.wiring import Runtime

MAX_LIMIT = 500
SECRET_FIELDS = re.compile(r"^(api_key|password|secret|token)$")
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
RUNNING_SHOWN = 50

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _query(scope: Scope) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=False)
    return {name: values[-1] for name, values in parsed.items()}


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise GatewayError(422, "invalid_request", f"{name}: a whole number from {low} to {high}", field=name)
    return int(raw)


async def _answer(send: Send, ctx: RequestContext, body: Any) -> None:
    await send_body(send, 200, orjson.dumps(body), encode_headers({"x-request-id": ctx.echo_id,
                                                                     "cache-control": "no-store"}))


# -- recent requests -------------------------------------------------------------------------------------
async def requests(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /admin/requests?tenant=&status=&provider=&after=&replica=&limit=`: this replica's recent requests,
    newest first; `after` (a `seq` of `replica`) gives only newer ones, for a live tail."""
    runtime: Runtime = app.runtime
    admin_only(runtime, ctx, "read recent requests")
    query = _query(scope)
    try:
        status_test(query.get("status"))
    except ValueError as error:
        raise GatewayError(422, "invalid_request", str(error), field="status") from None
    limit = _int(query, "limit", 100, 1, MAX_LIMIT)
    after = _int(query, "after", 0, 0, 2 ** 62)
    if query.get("replica", replica()) != replica():
        after = 0  # a `seq` of another process (several share a pod's port): this one's newest instead
    recent = runtime.recent_records
    found = recent.select(tenant=query.get("tenant"), status=query.get("status"), provider=query.get("provider"),
                          after=after, limit=limit)
    newest = next(recent.newest(), None)
    await _answer(send, ctx, {"replica": replica(), "kept": len(recent), "keep": recent.keep,
                              "last_seq": newest.seq if newest is not None else 0,
                              "records": [record.public() for record in found]})


async def request(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /admin/requests/{request_id}`: one recent request with its whole route (decision and attempts)."""
    runtime: Runtime = app.runtime
    admin_only(runtime, ctx, "read recent requests")
    request_id = scope["path_params"]["request_id"]
    record = runtime.recent_records.find(request_id)
    if record is None:
        raise GatewayError(404, "unknown_request", f"no recent request '{request_id[:64]}' on this replica "
                           f"({replica()}); the log line has every request", field="request_id")
    await _answer(send, ctx, {"replica": replica(), **record.public(full=True)})


async def overview(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /admin/overview?window_s=3600`: requests, failures, latency, spend, cache, shedding, the strong
    share and the savings over the window (at most an hour) and its last five minutes, and per minute."""
    runtime: Runtime = app.runtime
    admin_only(runtime, ctx, "read the overview")
    window_s = _int(_query(scope), "window_s", 3600, 60, 3600)
    now = time.time()
    recent = runtime.recent_records
    summary = recent.overview.summary(runtime.config, now, window_s)
    await _answer(send, ctx, {"replica": replica(), "time": round(now, 3),
                              "live": {"rps": round(recent.rate(now), 2), "window_s": 10,
                                       "in_flight": getattr(app, "in_flight", None),
                                       "max_in_flight": getattr(app, "max_in_flight", None)},
                              **summary})


# -- routing ---------------------------------------------------------------------------------------------
def masked(value: Any) -> Any:
    """The config as JSON with anything secret masked: fields named like a secret, registered secrets and key
    shapes in any string, and credentials in URLs."""
    if isinstance(value, dict):
        return {name: (MASK if SECRET_FIELDS.match(str(name)) and item else masked(item))
                for name, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, str):
        return URL_USERINFO.sub(f"{MASK}@", redact(value))
    return value


async def config(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /admin/config`: the effective config (the file merged over the defaults, secrets masked), the rules
    in the order they run, and every chat chain."""
    runtime: Runtime = app.runtime
    admin_only(runtime, ctx, "read the config")
    current = runtime.config
    await _answer(send, ctx, {
        "replica": replica(),
        "generation": getattr(runtime, "generation", None),
        "file": str(runtime.config_path) if getattr(runtime, "config_path", None) else None,
        "rules": list(current.routing.rules),
        "chains": {where: [t.key for t in chain] for where, chain in current.chat_chains().items()},
        "tiers": sorted(current.tiers),
        "task_types": sorted(current.routes),
        "config": masked(current.model_dump(mode="json", exclude_none=True)),
    })


class AdminDecideRequest(BaseModel):
    """`POST /admin/decide`: a request's route as a given key or tier would get it (else as the admin key)."""

    model_config = ConfigDict(extra="forbid")

    request: CompleteRequest
    tier: Name | None = None
    key_id: Name | None = None


@dataclass(frozen=True, slots=True)
class DecideAs:
    body: AdminDecideRequest

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx, "decide as a key or tier")
        body = self.body
        if body.tier is not None and body.key_id is not None:
            raise GatewayError(422, "invalid_request", "key_id: give a key or a tier, not both", field="key_id")
        caller = ctx.caller
        if body.key_id is not None:
            try:
                caller = await runtime.auth.caller_of(body.key_id)
            except Unauthorized as refused:
                raise GatewayError(404, "unknown_key", f"key_id: {refused}", field="key_id") from None
        elif body.tier is not None:
            tier = runtime.config.tiers.get(body.tier)
            if tier is None:
                raise GatewayError(422, "invalid_request", f"tier: unknown tier '{body.tier}' (known: "
                                   f"{', '.join(runtime.config.tiers) or 'none'})", field="tier")
            caller = Caller(f"tier:{body.tier}", None, body.tier, frozenset(),
                            allowed=frozenset(tier.models) if tier.models is not None else None)
        decided = await runtime.flow.decide(RequestContext(caller=caller, front_door="decide"),
                                            body.request.to_request())
        return {**decided.model_dump(mode="json"),
                "as": {"key_id": body.key_id, "tier": caller.tier, "tenant": caller.tenant}}


class DecideAsDoor:
    name = "admin"

    def parse(self, body: bytes, incoming: Incoming) -> DecideAs:
        return DecideAs(parse_body(AdminDecideRequest, body))

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, orjson.dumps(result)


# -- jobs and the cache ------------------------------------------------------------------------------------
async def jobs(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /admin/jobs`: durable jobs queued and running (the newest 50 running, with their step)."""
    runtime: Runtime = app.runtime
    admin_only(runtime, ctx, "read the jobs")
    store = runtime.jobs
    if store is None or runtime.redis is None:
        await _answer(send, ctx, {"available": False, "reason": "durable jobs need Redis (REDIS_URL)"})
        return
    try:
        running = await store.running(runtime.settings.job_visibility_s)
        queued = int(await runtime.redis.llen(QUEUE))
        newest = await runtime.redis.zrevrange(RUNNING, 0, RUNNING_SHOWN - 1, withscores=True)
        shown = []
        for job_id, started in newest:
            job = await store.get(job_id.decode())
            if job is not None:
                shown.append({**public_view(job), "started_at": started})
    except (RedisError, OSError) as error:
        raise GatewayError(503, "jobs_unavailable", f"durable jobs need Redis, which is unreachable "
                           f"({type(error).__name__})") from None
    await _answer(send, ctx, {"available": True, "queued": queued, "running": running, "jobs": shown})


async def cache(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /admin/cache`: what the response cache holds (entries by kind, bytes) and this replica's hits over
    the last hour and five minutes."""
    runtime: Runtime = app.runtime
    admin_only(runtime, ctx, "read the cache")
    response_cache = runtime.cache
    summary = runtime.recent_records.overview.summary(runtime.config, time.time(), 3600)
    fields = ("cache_lookups", "cache_hits", "cache_hit_rate", "saved_by_cache_usd")
    answer: dict[str, Any] = {"replica": replica(), "enabled": response_cache is not None,
                              "last_hour": {name: summary["totals"][name] for name in fields},
                              "last_5m": {name: summary["last_5m"][name] for name in fields}}
    if response_cache is not None:
        try:
            stats = await response_cache.entries.stats()
        except (RedisError, OSError) as error:
            raise GatewayError(503, "storage_unavailable", f"the cache's store is unreachable "
                               f"({type(error).__name__})") from None
        answer.update(store=stats.store, entries=stats.entries, bytes=stats.bytes,
                      semantic=response_cache.semantic is not None)
    await _answer(send, ctx, answer)
