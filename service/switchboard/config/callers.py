"""Callers: per-tenant limits, what happens to limits when Redis is down, and the tiers of special callers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from switchboard.config.base import Name, Strict


class Limits(Strict):
    """Requests and tokens per minute, and USD per day (UTC). Absent: unlimited."""

    rpm: Annotated[int, Field(ge=1)] | None = None
    tpm: Annotated[int, Field(ge=1)] | None = None
    budget_usd_day: Annotated[float, Field(gt=0)] | None = None


class LimitsConfig(Strict):
    on_redis_error: Literal["open", "closed"] = "open"
    tenants: dict[Name, Limits] = {}  # shared by every key of the tenant, on top of each key's own


class CallersConfig(Strict):
    admin_tier: str = "paid"  # the admin key may also make requests, as this tier
    anonymous_tier: str | None = None  # the tier of requests when authentication is off
