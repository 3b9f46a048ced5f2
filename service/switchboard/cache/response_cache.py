"""Answers requests that were answered before, without calling a provider, and says so.

What is looked up: only deterministic requests (temperature 0) unless the route (`cache.sampled`) or the
request (`cache: true`) opts in to caching sampled answers; never a request with `cache: false`; reading is
skipped with `Cache-Control: no-cache` and writing with `no-store`. A hit costs 0 and records what it saved.
Cache errors (Redis down, a corrupt entry) never fail a request: it goes to the provider and the log says why.

`lookup` returns a `Lookup` (the status, the hit, and the fingerprint that `store` needs later); a streamed
hit is replayed as the usual stream events (`replay`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError

from switchboard.cache.fingerprint import Fingerprint, fingerprint
from switchboard.cache.store import MemoryStore, RedisStore, Store, StoreStats, entry_key
from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.events import StreamEvent, TextDelta, ToolCallDelta
from switchboard.core.plan import CachePolicy, Plan
from switchboard.core.request import Request
from switchboard.core.response import CacheInfo, CompletionResponse, Route, Usage
from switchboard.logs import log

Status = Literal["hit", "semantic-hit", "miss", "bypass"]
REPLAY_PIECE = 24  # characters per replayed text event


@dataclass(frozen=True, slots=True)
class Lookup:
    status: Status
    response: CompletionResponse | None = None  # the hit
    key: Fingerprint | None = None  # what `store` files the answer under (None: do not store)


BYPASS = Lookup("bypass")


class ResponseCache:
    def __init__(self, config: GatewayConfig, client: aioredis.Redis | None, semantic: bool) -> None:
        self._config = config
        self.entries: Store = RedisStore(client) if client is not None else MemoryStore(config.cache.exact.max_bytes)
        self.semantic: Any = None
        if semantic:
            from switchboard.cache.semantic import SemanticIndex

            self.semantic = SemanticIndex(config, client, self.entries)

    async def start(self) -> None:
        if self.semantic is not None:
            await self.semantic.start()

    async def close(self) -> None:
        if self.semantic is not None:
            await self.semantic.close()

    @staticmethod
    def _cacheable(request: Request, policy: CachePolicy) -> bool:
        if request.cache is False or not policy.any:
            return False
        return request.temperature == 0 or policy.sampled or request.cache is True

    async def lookup(self, ctx: RequestContext, request: Request, plan: Plan) -> Lookup:
        policy = plan.cache
        if not self._cacheable(request, policy):
            return BYPASS
        print_ = fingerprint(request, plan, ctx.caller.tenant, request.max_tokens or self._config.default_max_tokens)
        store_key = print_ if request.cache_write else None
        if not request.cache_read:
            return Lookup("bypass", key=store_key)
        if policy.exact:
            hit = await self._exact(ctx, plan, print_)
            if hit is not None:
                return Lookup("hit", hit, store_key)
        if policy.semantic and self.semantic is not None and not _has_tools(request):
            found = await self.semantic.find(ctx, print_, policy.semantic_threshold)
            if found is not None:
                raw, similarity = found
                hit = self._hit(ctx, plan, raw, "semantic", similarity)
                if hit is not None:
                    return Lookup("semantic-hit", hit, store_key)
        return Lookup("miss", key=store_key)

    async def _exact(self, ctx: RequestContext, plan: Plan, print_: Fingerprint) -> CompletionResponse | None:
        try:
            raw = await self.entries.get(entry_key("x", print_.tenant, print_.exact))
        except Exception as error:  # Redis down or anything else: the request goes on to the provider
            ctx.notes.append(f"cache read failed: {type(error).__name__}")
            return None
        return None if raw is None else self._hit(ctx, plan, raw, "exact", None)

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

    async def store(self, ctx: RequestContext, request: Request, plan: Plan, lookup: Lookup,
                    response: CompletionResponse) -> None:
        print_ = lookup.key
        if print_ is None or response.finish_reason == "error":
            return
        policy = plan.cache
        value = orjson.dumps({"response": response.model_dump(mode="json"), "stored_at": time.time()})
        if policy.exact:
            try:
                await self.entries.put(entry_key("x", print_.tenant, print_.exact), value, policy.exact_ttl_s)
            except Exception as error:
                log.warning("cache_write_failed", request_id=ctx.id, error=type(error).__name__)
        if policy.semantic and self.semantic is not None and not _has_tools(request):
            await self.semantic.add(ctx, print_, value, policy.semantic_ttl_s)

    # -- operations --------------------------------------------------------------------------------
    async def clear(self, tenant: str | None = None) -> int:
        return await self.entries.clear(tenant)

    async def stats(self) -> StoreStats:
        stats = await self.entries.stats()
        if self.semantic is not None and stats.store == "memory":
            stats.entries["semantic"] = self.semantic.entries
        return stats


def replay(response: CompletionResponse) -> Iterator[StreamEvent]:
    """A stored answer as the events of a stream (a streamed cache hit)."""
    text = response.text
    for start in range(0, len(text), REPLAY_PIECE):
        yield TextDelta(text[start:start + REPLAY_PIECE])
    for index, call in enumerate(response.tool_calls or ()):
        yield ToolCallDelta(index, call.function.arguments, call.id, call.function.name)


def _has_tools(request: Request) -> bool:
    return bool(request.tools) or any(m.tool_calls or m.role == "tool" for m in request.messages)
