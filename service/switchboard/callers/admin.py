"""Minting, listing, showing and revoking API keys: shared by `switchboard keys ...` and `/admin/keys`."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard.callers.keys import KeyRecord, digest, mint, parse_duration
from switchboard.callers.store import KeyStore
from switchboard.config import GatewayConfig
from switchboard.core.caller import ADMIN_TENANT


class KeySpec(BaseModel):
    """What a new key gets: its tenant and tier, optional limits, the models it may pin, an expiry."""

    model_config = ConfigDict(extra="forbid")

    tenant: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
    tier: Annotated[str, Field(min_length=1, max_length=64)]
    rpm: Annotated[int, Field(ge=1)] | None = None
    tpm: Annotated[int, Field(ge=1)] | None = None
    budget_usd_day: Annotated[float, Field(gt=0)] | None = None
    max_in_flight: Annotated[int, Field(ge=1)] | None = None
    models: list[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]] | None = None
    expires: str | None = None  # a duration from now: 30d, 12h, 2w

    @field_validator("expires")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


def check_spec(spec: KeySpec, config: GatewayConfig) -> None:
    """Tiers and models must be ones the config knows, and the tenant not the admin key's; a ValueError naming the
    field otherwise."""
    if spec.tenant == ADMIN_TENANT:
        raise ValueError(f"tenant: '{ADMIN_TENANT}' is reserved for the admin key's own requests")
    if config.tiers and spec.tier not in config.tiers:
        raise ValueError(f"tier: unknown tier '{spec.tier}' (known: {', '.join(config.tiers)})")
    known = {f"{p}/{m}" for p, provider in config.providers.items() for m in provider.models}
    for model in spec.models or ():
        if model not in known:
            raise ValueError(f"models: unknown model '{model}' (use provider/model, e.g. openai/gpt-5.4)")


async def create_key(store: KeyStore, pepper: bytes, spec: KeySpec) -> tuple[KeyRecord, str]:
    """A new key: the record (stored, hash only) and the key itself, shown once."""
    key_id, secret, key = mint()
    record = KeyRecord(
        id=key_id, hash=digest(pepper, secret), tenant=spec.tenant, tier=spec.tier, rpm=spec.rpm, tpm=spec.tpm,
        budget_usd_day=spec.budget_usd_day, max_in_flight=spec.max_in_flight, models=spec.models,
        expires_at=time.time() + parse_duration(spec.expires) if spec.expires else None,
    )
    await store.put(record)
    return record, key


async def show_key(store: KeyStore, key_id: str) -> dict[str, Any] | None:
    record = await store.get(key_id)
    if record is None:
        return None
    return {**record.public(), "today": await store.usage(key_id)}
