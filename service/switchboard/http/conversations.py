"""Stored conversations for the Responses API (`store: true`, `previous_response_id`), kept in Redis.

One key per stored response, `sb:resp:<tenant tag>:<response id>`, holding every item of the conversation up to
and including that response's output (the instructions are not kept: the API applies them to one response
only), with a TTL. The tenant is part of the key, so another tenant's id is simply not found (404), as an
unknown one is. Without Redis nothing is stored: asking for it is a 400 that says so.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from switchboard.cache.fingerprint import tenant_tag
from switchboard.core.errors import GatewayError

TTL_S = 30 * 86400  # as long as OpenAI keeps a stored response by default
PREFIX = "sb:resp:"


class Conversations:
    """The stored conversations of one tenant (`ctx.caller.tenant`; None is the anonymous, single tenant)."""

    def __init__(self, redis: Redis, tenant: str | None) -> None:
        self._redis = redis
        self._prefix = f"{PREFIX}{tenant_tag(tenant or '-')}:"

    @classmethod
    def of(cls, redis: Redis | None, tenant: str | None, field: str) -> Conversations:
        """The store, or the 400 that says why there is none (`field`: the parameter that asked for it)."""
        if redis is None:
            raise GatewayError(400, "storage_unavailable", f"{field}: stored responses need Redis (REDIS_URL), "
                               "which is not configured here; send the whole conversation as `input` instead",
                               field=field)
        return cls(redis, tenant)

    async def load(self, response_id: str) -> list[dict[str, Any]]:
        """The items of the conversation that `response_id` ended: 404 when it is unknown or another tenant's."""
        try:
            raw = await self._redis.get(self._prefix + response_id)
        except (RedisError, OSError) as error:
            raise GatewayError(503, "storage_unavailable", f"previous_response_id: stored responses cannot be read "
                               f"(Redis: {type(error).__name__})", field="previous_response_id",
                               headers={"retry-after": "1"}) from None
        if raw is None:
            raise GatewayError(404, "unknown_response", f"previous_response_id: no stored response '{response_id}' "
                               "(unknown, expired, or not this tenant's)", field="previous_response_id")
        return orjson.loads(raw)["items"]

    async def save(self, response_id: str, items: list[dict[str, Any]]) -> bool:
        """Keep the conversation `response_id` ends; False when Redis would not (the answer still goes out,
        saying `store: false`)."""
        try:
            await self._redis.set(self._prefix + response_id, orjson.dumps({"items": items}), ex=TTL_S)
        except (RedisError, OSError):
            return False
        return True
