"""Callers: per-tenant limits, what happens to limits when Redis is down, and the tiers of special callers."""

from __future__ import annotations

from typing import Literal

from switchboard.config.base import Name, Strict
from switchboard.core.caller import Limits


class LimitsConfig(Strict):
    on_redis_error: Literal["open", "closed"] = "open"
    tenants: dict[Name, Limits] = {}  # shared by every key of the tenant, on top of each key's own


class CallersConfig(Strict):
    admin_tier: str = "paid"  # the admin key may also make requests, as this tier, billed to tenant `admin`
    admin_limits: Limits = Limits()  # ... within these limits (none by default)
    anonymous_tier: str | None = None  # the tier of requests when authentication is off
