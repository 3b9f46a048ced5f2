"""Who is calling: the API key of a request (`Authorization: Bearer <key>` or `x-api-key: <key>`) to a Caller.

On when an admin key is configured. Key records are cached in process: a record read less than a second ago
is used as is (so a revocation reaches every replica within about a second); an older one is read again,
and if the store cannot be reached an entry up to a minute old still answers, so a Redis blip does not lock
everyone out.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from switchboard.callers.keys import KeyRecord, digest, pepper, split
from switchboard.callers.request_ids import RequestIds
from switchboard.callers.store import KeyStore, StoreUnavailable
from switchboard.config import ConfigError, GatewayConfig
from switchboard.core.caller import ADMIN_TENANT, ANONYMOUS, Caller
from switchboard.core.errors import GatewayError
from switchboard.logs import log
from switchboard.redact import register_secret
from switchboard.settings import Settings

FRESH_S = 1.0  # a cached record younger than this is not read again
MIN_ADMIN_KEY = 32  # characters: the admin key guards every provider key and mints every API key
STALE_S = 60.0  # ... and one younger than this still answers while the store is unreachable


class Unauthorized(GatewayError):
    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message, headers={"www-authenticate": 'Bearer realm="switchboard"'})


class Authenticator:
    def __init__(self, config: GatewayConfig, settings: Settings, store: KeyStore) -> None:
        self._config = config
        self._store = store
        self._admin_key: str | None = None
        self._pepper: bytes | None = None
        self.required = settings.auth
        self.anonymous = Caller(None, None, config.callers.anonymous_tier)
        admin_limits = config.callers.admin_limits
        self.admin = Caller("admin", ADMIN_TENANT, config.callers.admin_tier, limits=admin_limits, admin=True,
                            max_in_flight=admin_limits.max_in_flight)
        self._tiers = config.tiers
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self.ids = RequestIds()  # our request ids, tagged with the tenant they were made for
        if settings.admin_key:
            self.use_admin_key(settings.admin_key)

    def use_admin_key(self, key: str) -> None:
        check_admin_key(key)
        register_secret(key)
        self._admin_key = key
        self._pepper = pepper(key)
        self.ids = RequestIds(self._pepper)

    @property
    def pepper(self) -> bytes | None:
        return self._pepper

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller a request's key names; `Unauthorized` (401) for a missing, unknown, revoked or expired key."""
        if not self.required:
            return self.anonymous
        presented = _presented(headers)
        if presented is None:
            raise Unauthorized("an API key is required: Authorization: Bearer <key> (or x-api-key: <key>)")
        if self._admin_key is not None and hmac.compare_digest(presented.encode(), self._admin_key.encode()):
            return self.admin
        parts = split(presented)
        if parts is None or self._pepper is None:
            raise Unauthorized("unknown API key")
        key_id, secret = parts
        record = await self._record(key_id)
        if record is None or not hmac.compare_digest(record.hash, digest(self._pepper, secret)):
            raise Unauthorized("unknown API key")
        status = record.status()
        if status != "active":
            raise Unauthorized(f"API key {key_id} is {status}")
        return self.caller(record)

    def caller(self, record: KeyRecord) -> Caller:
        """The caller a key record names: its limits, and the models it may use (its own, within its tier's)."""
        tier = self._tiers.get(record.tier)
        allowed: frozenset[str] | None = frozenset(record.models) if record.models is not None else None
        if tier is not None and tier.models is not None:
            allowed = frozenset(tier.models) if allowed is None else allowed & frozenset(tier.models)
        cap = record.max_in_flight or (tier.max_in_flight if tier is not None else None)
        return Caller(record.id, record.tenant, record.tier, frozenset(record.models or ()), record.limits,
                      allowed=allowed, max_in_flight=cap)

    async def caller_of(self, key_id: str) -> Caller:
        """The caller of a key by its id (a durable job runs as the key that submitted it): `Unauthorized`
        when the key is gone, revoked or expired."""
        record = await self._record(key_id)
        if record is None or record.status() != "active":
            raise Unauthorized(f"API key {key_id} is {record.status() if record else 'unknown'}")
        return self.caller(record)

    async def _record(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < FRESH_S:
            return cached[1]
        try:
            record = await self._store.get(key_id)
        except StoreUnavailable as error:
            if cached is not None and now - cached[0] < STALE_S:
                return cached[1]
            log.warning("keys_unavailable", error=str(error))
            raise GatewayError(503, "keys_unavailable", "API keys cannot be checked: the key store (Redis) is "
                               "unreachable") from None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key_id] = (now, record)
        return record

    def forget(self, key_id: str) -> None:
        """This replica revoked it: do not wait for the cache to notice."""
        self._cache.pop(key_id, None)


def check_admin_key(key: str) -> None:
    """A `ConfigError` (the process refuses to start) for an admin key too short to guard what it guards."""
    if len(key) < MIN_ADMIN_KEY:
        raise ConfigError(f"SWITCHBOARD_ADMIN_KEY: at least {MIN_ADMIN_KEY} characters (it has {len(key)}); "
                         "make one with `openssl rand -hex 24`")


def _presented(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


__all__ = ["ANONYMOUS", "Authenticator", "Unauthorized"]
