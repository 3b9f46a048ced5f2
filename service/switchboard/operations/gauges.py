"""The gauges computed at scrape time from shared state: breaker states, drains, Redis reachability, the job
queue, tenants' budgets. A scrape comes every 15-30 s; these reads never run on the request path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.config import GatewayConfig, LimitsConfig
from switchboard.core.hold import Holds
from switchboard.providers.base import Adapter
from switchboard.resilience.breaker import Breakers, BreakerState
from switchboard.resilience.endpoints import EndpointBreakers
from switchboard.telemetry import metrics


async def update(config: GatewayConfig, limits: LimitsConfig, adapters: Mapping[str, Adapter], breakers: Breakers,
                 endpoints: EndpointBreakers, holds: Holds, redis: aioredis.Redis | None, queue: str,
                 running: Callable[[], Awaitable[int]] | None) -> None:
    """Set every scrape-time gauge. `queue`: the job queue's Redis list; `running`: counts jobs running.
    A target's breaker state is the worse of its own and its endpoint's (a dead host stops all its models)."""
    states = await breakers.states()
    hosts = await endpoints.states()
    for target in config.all_targets():
        own = states.get(target.key, BreakerState.CLOSED)
        host = hosts.get(adapters[target.provider].host or "", BreakerState.CLOSED)
        value = max(metrics.BREAKER_VALUES[own.value], metrics.BREAKER_VALUES[host.value])
        metrics.BREAKER_STATE.labels(target.key).set(value)
    drained = {}
    for target in config.all_targets():
        hold = holds.of(target)
        drained[(target.key, target.provider)] = 1.0 if hold is not None and hold.action == "drain" else 0.0
    metrics.SCRAPED.set("switchboard_target_drained", drained)
    metrics.SCRAPED.set("switchboard_tenant_budget_usd_day", {
        (tenant,): limit.budget_usd_day for tenant, limit in limits.tenants.items()
        if limit.budget_usd_day is not None})
    if redis is None:
        return  # no Redis: the Redis and job gauges are absent, not 0
    try:
        queued = int(await redis.llen(queue))
        jobs_running = await running() if running is not None else None
    except (RedisError, OSError):
        metrics.SCRAPED.set("switchboard_redis_up", {(): 0.0})
        metrics.SCRAPED.set("switchboard_jobs_queued", {})
        metrics.SCRAPED.set("switchboard_jobs_running", {})
        return
    metrics.SCRAPED.set("switchboard_redis_up", {(): 1.0})
    metrics.SCRAPED.set("switchboard_jobs_queued", {(): float(queued)})
    metrics.SCRAPED.set("switchboard_jobs_running", {(): float(jobs_running)} if jobs_running is not None else {})
