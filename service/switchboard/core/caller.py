"""Who is calling: what a request's API key says about it (tenant, tier, limits, the models it may use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """Requests and tokens per minute, and USD per day (UTC). Absent: unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: Annotated[int, Field(ge=1)] | None = None
    tpm: Annotated[int, Field(ge=1)] | None = None
    budget_usd_day: Annotated[float, Field(gt=0)] | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: str | None  # the key's short public id (never the secret); None: no key (authentication off)
    tenant: str | None
    tier: str | None
    models: frozenset[str] | None = None  # provider/model a caller may pin; None: none (admin: all)
    limits: Limits = Limits()
    admin: bool = False

    def may_pin(self, model: str) -> bool:
        return self.admin or self.key_id is None or (self.models is not None and model in self.models)


ANONYMOUS = Caller(None, None, None)
