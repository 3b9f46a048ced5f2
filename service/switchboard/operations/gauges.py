"""The gauges computed at scrape time from shared state: breaker states, drains, Redis reachability, the job
queue, tenants' budgets. A scrape comes every 15-30 s; these reads never run on the request path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.config import GatewayConfig, LimitsConfig
from switchboard.core.hold import Holds
from switchboard.resilience.breaker import Breakers
from switchboard.telemetry import metrics


async def update(config: GatewayConfig, limits: LimitsConfig, breakers: Breakers, holds: Holds,
                 redis: aioredis.Redis | None, queue: str,
                 running: Callable[[], Awaitable[int]] | None) -> None:
    """Set every scrape-time gauge. `queue`: the job queue's Redis list; `running`: counts jobs running."""
    for target, state in (await breakers.states()).items():
        metrics.BREAKER_STATE.labels(target).set(metrics.BREAKER_VALUES[state.value])
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
