"""Answers requests that were answered before, without calling a provider, and says so.

What is looked up: only deterministic requests (temperature 0) unless the route (`cache.sampled`) or the
request (`cache: true`) opts in to caching sampled answers; never a request with `cache: false`; reading is
skipped with `Cache-Control: no-cache` and writing with `no-store`. A hit costs 0 and records what it saved.
Cache errors (Redis down, a corrupt entry) never fail a request: it goes to the provider and the log says why.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError

from switchboard.cache.fingerprint import Fingerprint, fingerprint, tenant_tag
from switchboard.cache.store import MemoryStore, RedisStore
from switchboard.config import CacheConfig, GatewayConfig
from switchboard.engine.context import RequestContext
from switchboard.logs import log
from switchboard.request import Request
from switchboard.routing.plan import Plan
from switchboard.schema import CacheInfo, CompletionResponse, Route, Usage

EXACT_PREFIX = "sb:cache:x:"


def exact_key(print_: Fingerprint) -> str:
    return f"{EXACT_PREFIX}{tenant_tag(print_.tenant)}:{print_.exact}"


class ResponseCache:
    def __init__(self, config: GatewayConfig, client: aioredis.Redis | None, semantic: bool) -> None:
        self._config = config
        self.entries: MemoryStore | RedisStore = (RedisStore(client) if client is not None
                                                else MemoryStore(config.cache.exact.max_bytes))
        self.semantic: Any = None
        if semantic:
            from switchboard.cache.semantic import SemanticIndex

            self.semantic = SemanticIndex(config, client)

    async def start(self) -> None:
        if self.semantic is not None:
            await self.semantic.start()

    async def close(self) -> None:
        if self.semantic is not None:
            await self.semantic.close()

    def _cacheable(self, ctx: RequestContext, request: Request, policy: CacheConfig) -> bool:
        if request.cache is False or not (policy.exact.enabled or policy.semantic.enabled):
            return False
        deterministic = request.temperature == 0
        return deterministic or policy.sampled or request.cache is True

    async def lookup(self, ctx: RequestContext, request: Request, plan: Plan) -> CompletionResponse | None:
        policy = plan.cache
        if not self._cacheable(ctx, request, policy):
            ctx.cache = "bypass"
            return None
        print_ = fingerprint(request, plan, ctx.caller.tenant,
                             request.max_tokens or self._config.default_max_tokens)
        ctx.fingerprint = print_
        if not ctx.cache_read:
            ctx.cache = "bypass"
            return None
        if policy.exact.enabled:
            hit = await self._exact(ctx, plan, print_)
            if hit is not None:
                return hit
        if policy.semantic.enabled and self.semantic is not None and not _has_tools(request):
            found = await self.semantic.find(ctx, print_, policy.semantic.threshold)
            if found is not None:
                raw, similarity = found
                hit = self._hit(ctx, plan, raw, "semantic", similarity)
                if hit is not None:
                    ctx.cache = "semantic-hit"
                    return hit
        ctx.cache = "miss"
        return None

    async def _exact(self, ctx: RequestContext, plan: Plan, print_: Fingerprint) -> CompletionResponse | None:
        try:
            raw = await self.entries.get(exact_key(print_))
        except Exception as error:  # Redis down or anything else: the request goes on to the provider
            ctx.notes.append(f"cache read failed: {type(error).__name__}")
            return None
        if raw is None:
            return None
        hit = self._hit(ctx, plan, raw, "exact", None)
        if hit is not None:
            ctx.cache = "hit"
        return hit

    def _hit(self, ctx: RequestContext, plan: Plan, raw: bytes, kind: str,
             similarity: float | None) -> CompletionResponse | None:
        try:
            entry = orjson.loads(raw)
            stored = CompletionResponse.model_validate(entry["response"])
            age = max(time.time() - float(entry["stored_at"]), 0.0)
        except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError, ValueError) as error:
            ctx.notes.append(f"cache entry unreadable ({type(error).__name__}): ignored")
            return None
        return stored.model_copy(update={
            "id": f"sb-{ctx.id}",
            "cached": True,
            "cache": CacheInfo(kind=kind, similarity=round(similarity, 4) if similarity is not None else None,  # type: ignore[arg-type]
                               age_s=round(age, 3), saved_usd=stored.cost_usd),
            "cost_usd": 0.0,
            "cost_estimated": False,
            "usage": Usage(),
            "task_type": plan.task_type,
            "latency_ms": round(ctx.elapsed_s() * 1000, 3),
            "route": Route(reason=f"cache {kind} hit, stored {age:.0f}s ago ({stored.provider}:{stored.model}); "
                                  f"route {plan.chain}", decision=plan.decision, attempts=[]),
        })

    async def store(self, ctx: RequestContext, request: Request, plan: Plan, response: CompletionResponse) -> None:
        print_ = ctx.fingerprint
        if print_ is None or not ctx.cache_write or response.finish_reason == "error":
            return
        policy = plan.cache
        value = orjson.dumps({"response": response.model_dump(mode="json"), "stored_at": time.time()})
        if policy.exact.enabled:
            try:
                await self.entries.put(exact_key(print_), value, policy.exact.ttl_s)
            except Exception as error:
                log.warning("cache_write_failed", request_id=ctx.id, error=type(error).__name__)
        if policy.semantic.enabled and self.semantic is not None and not _has_tools(request):
            await self.semantic.add(ctx, print_, value, policy.semantic.ttl_s)


def _has_tools(request: Request) -> bool:
    return bool(request.tools) or any(m.tool_calls or m.role == "tool" for m in request.messages)
