"""Who is calling: what a request's API key says about it (tenant, tier, limits, the models it may use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """Requests and tokens per minute, USD per day (UTC), and requests in flight at once (per replica, counted
    before a body is read). Absent: unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: Annotated[int, Field(ge=1)] | None = None
    tpm: Annotated[int, Field(ge=1)] | None = None
    budget_usd_day: Annotated[float, Field(gt=0)] | None = None
    max_in_flight: Annotated[int, Field(ge=1)] | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: str | None  # the key's short public id (never the secret); None: no key (authentication off)
    tenant: str | None
    tier: str | None
    models: frozenset[str] | None = None  # provider/model a caller may pin; None: none (admin: all)
    limits: Limits = Limits()
    admin: bool = False
    # provider/model every target of its requests must be (the key's models, within its tier's); None: any
    allowed: frozenset[str] | None = None
    max_in_flight: int | None = None  # the key's own cap, else its tier's

    def may_pin(self, model: str) -> bool:
        return self.admin or self.key_id is None or (self.models is not None and model in self.models)

    def may_use(self, model: str) -> bool:
        """`provider/model`: whether any request of this caller may reach it (pins, routes, steps, embeddings)."""
        return self.allowed is None or self.admin or model in self.allowed


ANONYMOUS = Caller(None, None, None)
ADMIN_TENANT = "admin"  # the admin key's requests are this tenant's; no minted key may take the name
