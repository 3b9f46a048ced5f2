"""The response cache: exact (identical requests) and semantic (a last user message close in meaning)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from switchboard.config import GatewayConfig


def build_cache(config: GatewayConfig, client: aioredis.Redis | None) -> Any:
    """The cache, or None when no route can use it (every cost of it is then gone from the request path)."""
    from switchboard.cache.response_cache import ResponseCache

    routes = [config.default_route, *config.routes.values(),
              *(route for tier in config.tiers.values()
                for route in [*tier.routes.values(), *tier.complexity.values(), tier.default_route] if route)]
    policies = [config.cache] + [route.cache.apply(config.cache) for route in routes if route.cache is not None]
    if not any(p.exact.enabled or p.semantic.enabled for p in policies):
        return None
    semantic = any(p.semantic.enabled for p in policies)
    return ResponseCache(config, client, semantic)
