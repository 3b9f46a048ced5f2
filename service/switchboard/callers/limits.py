"""Rate limits and budgets per key (and per tenant across its keys), reserved before the call and settled after.

- Requests per minute: a sliding window of the last 60 s, counted under the gateway's own request ids (never
  the client's `x-request-id`), exact: 100 concurrent requests against a limit of 10 let exactly 10 through,
  whichever replica they reach.
- Tokens per minute: a bucket of `tpm` tokens refilled continuously; a request reserves its `max_tokens` plus
  an upper bound of its input (`Request.input_token_bound`), and settles with the usage the provider reported
  (the difference goes back).
- USD per day (UTC): a request reserves the most it can cost on its chain (those same upper bounds at the
  dearest target's prices), and settles with its real cost. So concurrent requests never spend past the
  budget together; only what no bound covers can (see README, "Limits and budgets").
- A request that alone needs more than a whole `tpm` or the whole daily budget is refused at once (429
  `request_too_large`): no wait would let it through.

With Redis every check is one Lua script (atomic across the key and its tenant); without Redis the same rules
run in process memory. If Redis is unreachable, `limits.on_redis_error` decides: `open` serves without limits
(and says so in `x-switchboard-limits`), `closed` refuses with 503.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.callers.store import FileKeyStore, day, usage_key
from switchboard.config import GatewayConfig
from switchboard.core.caller import Limits
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.logs import log

WINDOW_S = 60.0
USAGE_TTL_S = 40 * 86400

# KEYS: per scope 3 keys (requests zset, tokens bucket hash, USD-today counter).
# ARGV: scopes, tokens, max_cost, member, usd ttl, seconds to midnight, then per scope rpm, tpm, budget (0: none).
# Returns {0, code, scope, retry_ms} refused, or {1, remaining requests, reset requests ms, remaining tokens,
# reset tokens ms} for the first scope.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local scopes = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local member = ARGV[4]
local buckets = {}
local info = {1, -1, 0, -1, 0}
for i = 0, scopes - 1 do
  local rpm = tonumber(ARGV[7 + i * 3])
  local tpm = tonumber(ARGV[8 + i * 3])
  local budget = tonumber(ARGV[9 + i * 3])
  local requests, bucket, usd = KEYS[1 + i * 3], KEYS[2 + i * 3], KEYS[3 + i * 3]
  if rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', requests, '-inf', now - 60)
    local count = redis.call('ZCARD', requests)
    if count >= rpm then
      local oldest = redis.call('ZRANGE', requests, 0, 0, 'WITHSCORES')
      return {0, 'rate_limited', i, math.ceil((tonumber(oldest[2]) + 60 - now) * 1000)}
    end
    if i == 0 then
      info[2] = rpm - count - 1
      local oldest = redis.call('ZRANGE', requests, 0, 0, 'WITHSCORES')
      if oldest[2] then info[3] = math.ceil((tonumber(oldest[2]) + 60 - now) * 1000) else info[3] = 60000 end
    end
  end
  if tpm > 0 then
    local state = redis.call('HMGET', bucket, 'tokens', 'ts')
    local have = tonumber(state[1] or tpm)
    local since = now - tonumber(state[2] or now)
    have = math.min(tpm, have + since * tpm / 60)
    local need = tokens
    if need > tpm then
      return {0, 'too_large_tokens', i, 0}
    end
    if have < need then
      return {0, 'rate_limited_tokens', i, math.ceil((need - have) / (tpm / 60) * 1000)}
    end
    buckets[i] = have - need
    if i == 0 then
      info[4] = math.floor(have - need)
      info[5] = math.ceil((tpm - (have - need)) / (tpm / 60) * 1000)
    end
  end
  if budget > 0 then
    if cost > budget then
      return {0, 'too_large_budget', i, 0}
    end
    local spent = tonumber(redis.call('GET', usd) or '0')
    if spent + cost > budget then
      return {0, 'budget_exceeded', i, tonumber(ARGV[6]) * 1000}
    end
  end
end
for i = 0, scopes - 1 do
  local rpm = tonumber(ARGV[7 + i * 3])
  local tpm = tonumber(ARGV[8 + i * 3])
  local budget = tonumber(ARGV[9 + i * 3])
  if rpm > 0 then
    redis.call('ZADD', KEYS[1 + i * 3], now, member)
    redis.call('EXPIRE', KEYS[1 + i * 3], 120)
  end
  if tpm > 0 then
    redis.call('HSET', KEYS[2 + i * 3], 'tokens', buckets[i], 'ts', now)
    redis.call('EXPIRE', KEYS[2 + i * 3], 600)
  end
  if budget > 0 then
    redis.call('INCRBYFLOAT', KEYS[3 + i * 3], cost)
    redis.call('EXPIRE', KEYS[3 + i * 3], tonumber(ARGV[5]))
  end
end
return info
"""

# KEYS: per scope (tokens bucket, USD-today counter), then the key's usage hash.
# ARGV: scopes, reserved tokens, used tokens, reserved cost, real cost, usage ttl, then per scope tpm, budget.
SETTLE = """
local scopes = tonumber(ARGV[1])
local back = tonumber(ARGV[2]) - tonumber(ARGV[3])
local extra = tonumber(ARGV[5]) - tonumber(ARGV[4])
for i = 0, scopes - 1 do
  local tpm = tonumber(ARGV[7 + i * 2])
  local budget = tonumber(ARGV[8 + i * 2])
  if tpm > 0 and redis.call('EXISTS', KEYS[1 + i * 2]) == 1 then
    local have = tonumber(redis.call('HGET', KEYS[1 + i * 2], 'tokens') or tpm)
    redis.call('HSET', KEYS[1 + i * 2], 'tokens', math.min(tpm, have + back))
  end
  if budget > 0 and extra ~= 0 then
    redis.call('INCRBYFLOAT', KEYS[2 + i * 2], extra)
  end
end
local usage = KEYS[scopes * 2 + 1]
redis.call('HINCRBY', usage, 'requests', 1)
redis.call('HINCRBY', usage, 'tokens', tonumber(ARGV[3]))
redis.call('HINCRBYFLOAT', usage, 'cost_usd', tonumber(ARGV[5]))
redis.call('EXPIRE', usage, tonumber(ARGV[6]))
return 1
"""


@dataclass(slots=True)
class Scope:
    name: str  # key:<id> or tenant:<name>
    limits: Limits


@dataclass(slots=True)
class Reservation:
    scopes: list[Scope]
    tokens: int
    cost_usd: float
    key_id: str | None
    enforced: bool = True


def seconds_to_midnight(now: float | None = None) -> float:
    now = time.time() if now is None else now
    return 86400 - now % 86400


def duration(seconds: float) -> str:
    """OpenAI's reset format: 120ms, 6s, 1m0s, 1h2m3s."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 1)}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def refused(code: str, scope: Scope, retry_s: float, tokens: int = 0, cost_usd: float = 0.0) -> GatewayError:
    retry = max(1, math.ceil(retry_s))
    who = scope.name.replace(":", " ", 1)
    if code == "too_large_tokens":
        return GatewayError(429, "request_too_large", f"{who}: this request may need {tokens} tokens (its input "
                            f"at most, plus max_tokens), more than its whole limit of {scope.limits.tpm} tokens per "
                            "minute; lower max_tokens or shorten the input", field="max_tokens",
                            headers=_limit_headers(scope, 0))
    if code == "too_large_budget":
        return GatewayError(429, "request_too_large", f"{who}: this request may cost up to ${cost_usd:.6f}, more "
                            f"than its whole daily budget of ${scope.limits.budget_usd_day:g}; lower max_tokens "
                            "or shorten the input", field="max_tokens")
    if code == "budget_exceeded":
        resets = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + retry_s))
        return GatewayError(429, "budget_exceeded", f"{who}: today's budget of ${scope.limits.budget_usd_day:g} is "
                            f"spent; it resets at {resets} (UTC midnight)",
                            headers={"retry-after": str(retry), "x-switchboard-budget-reset": resets})
    what = f"{scope.limits.tpm} tokens" if code == "rate_limited_tokens" else f"{scope.limits.rpm} requests"
    return GatewayError(429, "rate_limited", f"{who}: over its limit of {what} per minute; retry in {retry}s",
                        headers={"retry-after": str(retry), **_limit_headers(scope, retry_s, code)})


def _limit_headers(scope: Scope, retry_s: float, code: str = "") -> dict[str, str]:
    """OpenAI's `x-ratelimit-*` headers on a refusal too, so clients back off the way they know: the exhausted
    limit's at 0 and its reset, the other's limit alone."""
    requests = (0, retry_s) if code == "rate_limited" else (None, None)
    tokens = (0, retry_s) if code == "rate_limited_tokens" else (None, None)
    return ratelimit_headers(scope.limits, *requests, *tokens)


def ratelimit_headers(limits: Limits, remaining_requests: float | None, reset_requests_s: float | None,
                      remaining_tokens: float | None, reset_tokens_s: float | None) -> dict[str, str]:
    """The `x-ratelimit-*` headers of the limits set: each limit, and its remaining count and reset when known."""
    headers: dict[str, str] = {}
    for kind, limit, remaining, reset in (("requests", limits.rpm, remaining_requests, reset_requests_s),
                                          ("tokens", limits.tpm, remaining_tokens, reset_tokens_s)):
        if limit:
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            if remaining is not None and reset is not None:
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(int(remaining), 0))
                headers[f"x-ratelimit-reset-{kind}"] = duration(reset)
    return headers


class _Limiter:
    def __init__(self, config: GatewayConfig) -> None:
        self._tenants = config.limits.tenants
        self._closed = config.limits.on_redis_error == "closed"
        admin = config.callers.admin_limits
        self._admin_limited = bool(admin.rpm or admin.tpm or admin.budget_usd_day)

    def applies(self, ctx: RequestContext) -> bool:
        """Requests made with an API key have limits and usage; the admin key's, when `callers.admin_limits`
        sets any."""
        caller = ctx.caller
        return caller.key_id is not None and (not caller.admin or self._admin_limited)

    def scopes(self, ctx: RequestContext) -> list[Scope]:
        caller = ctx.caller
        scopes = []
        if caller.admin:
            return [Scope("key:admin", caller.limits)] if self._admin_limited else []
        if caller.key_id is not None:
            limits = caller.limits
            if limits.rpm or limits.tpm or limits.budget_usd_day:
                scopes.append(Scope(f"key:{caller.key_id}", limits))
            tenant = self._tenants.get(caller.tenant or "")
            if tenant is not None:
                scopes.append(Scope(f"tenant:{caller.tenant}", tenant))
            if not scopes:  # no limit, but today's usage is still counted
                scopes.append(Scope(f"key:{caller.key_id}", Limits()))
        return scopes

    @staticmethod
    def headers(ctx: RequestContext, scope: Scope, remaining_requests: float, reset_requests_s: float,
                remaining_tokens: float, reset_tokens_s: float) -> None:
        ctx.headers.update(ratelimit_headers(scope.limits, remaining_requests, reset_requests_s, remaining_tokens,
                                             reset_tokens_s))

    def held(self, ctx: RequestContext, tokens: int, cost_usd: float) -> Reservation | None:
        """A reservation made earlier (by another process: a queued job's), to settle or give back now."""
        scopes = self.scopes(ctx)
        return Reservation(scopes, tokens, cost_usd, ctx.caller.key_id) if scopes else None

    def unreachable(self, ctx: RequestContext, error: Exception) -> None:
        log.warning("limits_unreachable", error=type(error).__name__, on_redis_error="closed" if self._closed else "open")
        if self._closed:
            ctx.headers["x-switchboard-limits"] = "unavailable"
            raise GatewayError(503, "limits_unavailable", "limits cannot be checked (Redis is unreachable) and "
                               "limits.on_redis_error is closed", headers={"retry-after": "1"})
        ctx.headers["x-switchboard-limits"] = "unenforced"


class RedisLimiter(_Limiter):
    def __init__(self, config: GatewayConfig, client: aioredis.Redis) -> None:
        super().__init__(config)
        self._reserve = client.register_script(RESERVE)
        self._settle = client.register_script(SETTLE)

    async def reserve(self, ctx: RequestContext, tokens: int, max_cost_usd: float) -> Reservation | None:
        scopes = self.scopes(ctx)
        if not scopes:
            return None
        today = day()
        keys: list[str] = []
        args: list[Any] = [len(scopes), tokens, repr(max_cost_usd), ctx.id, 2 * 86400, seconds_to_midnight()]
        for scope in scopes:
            keys += [f"sb:rl:req:{scope.name}", f"sb:rl:tok:{scope.name}", f"sb:rl:usd:{scope.name}:{today}"]
            args += [scope.limits.rpm or 0, scope.limits.tpm or 0, repr(scope.limits.budget_usd_day or 0)]
        try:
            result = await self._reserve(keys=keys, args=args)
        except (RedisError, OSError) as error:
            self.unreachable(ctx, error)
            return Reservation(scopes, tokens, max_cost_usd, ctx.caller.key_id, enforced=False)
        if int(result[0]) == 0:
            code = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
            raise refused(code, scopes[int(result[2])], int(result[3]) / 1000, tokens, max_cost_usd)
        self.headers(ctx, scopes[0], int(result[1]), int(result[2]) / 1000, int(result[3]), int(result[4]) / 1000)
        return Reservation(scopes, tokens, max_cost_usd, ctx.caller.key_id)

    async def settle(self, ctx: RequestContext, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        if not reservation.enforced:
            return
        today = day()
        keys: list[str] = []
        args: list[Any] = [len(reservation.scopes), reservation.tokens, tokens, repr(reservation.cost_usd),
                           repr(cost_usd), USAGE_TTL_S]
        for scope in reservation.scopes:
            keys += [f"sb:rl:tok:{scope.name}", f"sb:rl:usd:{scope.name}:{today}"]
            args += [scope.limits.tpm or 0, repr(scope.limits.budget_usd_day or 0)]
        keys.append(usage_key(reservation.key_id or "-"))
        try:
            await self._settle(keys=keys, args=args)
        except (RedisError, OSError) as error:
            log.warning("limits_settle_failed", error=type(error).__name__)


@dataclass(slots=True)
class _Window:
    times: list[float] = field(default_factory=list)
    tokens: float | None = None
    tokens_at: float = 0.0
    usd: dict[str, float] = field(default_factory=dict)


class MemoryLimiter(_Limiter):
    """The same rules in one process's memory (no Redis)."""

    def __init__(self, config: GatewayConfig, keys: Any) -> None:
        super().__init__(config)
        self._state: dict[str, _Window] = {}
        self._keys = keys  # a FileKeyStore counts today's usage here

    async def reserve(self, ctx: RequestContext, tokens: int, max_cost_usd: float) -> Reservation | None:
        scopes = self.scopes(ctx)
        if not scopes:
            return None
        now, today = time.time(), day()
        info: tuple[float, float, float, float] | None = None
        staged: list[tuple[_Window, float | None]] = []
        for scope in scopes:
            state = self._state.setdefault(scope.name, _Window())
            limits = scope.limits
            state.times = [t for t in state.times if t > now - WINDOW_S]
            remaining = reset = -1.0
            if limits.rpm:
                if len(state.times) >= limits.rpm:
                    raise refused("rate_limited", scope, state.times[0] + WINDOW_S - now)
                remaining = limits.rpm - len(state.times) - 1
                reset = (state.times[0] + WINDOW_S - now) if state.times else WINDOW_S
            after: float | None = None
            tokens_left = tokens_reset = -1.0
            if limits.tpm:
                rate = limits.tpm / WINDOW_S
                have = limits.tpm if state.tokens is None else min(limits.tpm, state.tokens + (now - state.tokens_at) * rate)
                need = tokens
                if need > limits.tpm:
                    raise refused("too_large_tokens", scope, 0, tokens)
                if have < need:
                    raise refused("rate_limited_tokens", scope, (need - have) / rate)
                after = have - need
                tokens_left, tokens_reset = after, (limits.tpm - after) / rate
            if limits.budget_usd_day and max_cost_usd > limits.budget_usd_day:
                raise refused("too_large_budget", scope, 0, tokens, max_cost_usd)
            if limits.budget_usd_day and state.usd.get(today, 0.0) + max_cost_usd > limits.budget_usd_day:
                raise refused("budget_exceeded", scope, seconds_to_midnight(now))
            staged.append((state, after))
            if info is None:
                info = (remaining, reset, tokens_left, tokens_reset)
        for (state, after), scope in zip(staged, scopes, strict=True):
            if scope.limits.rpm:
                state.times.append(now)
            if after is not None:
                state.tokens, state.tokens_at = after, now
            if scope.limits.budget_usd_day:
                state.usd[today] = state.usd.get(today, 0.0) + max_cost_usd
        assert info is not None
        self.headers(ctx, scopes[0], *info)
        return Reservation(scopes, tokens, max_cost_usd, ctx.caller.key_id)

    async def settle(self, ctx: RequestContext, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        today = day()
        for scope in reservation.scopes:
            state = self._state.get(scope.name)
            if state is None:
                continue
            if scope.limits.tpm and state.tokens is not None:
                state.tokens = min(scope.limits.tpm, state.tokens + reservation.tokens - tokens)
            if scope.limits.budget_usd_day:
                state.usd[today] = state.usd.get(today, 0.0) + cost_usd - reservation.cost_usd
        if isinstance(self._keys, FileKeyStore) and reservation.key_id:
            self._keys.add_usage(reservation.key_id, tokens, cost_usd)


def build_limiter(config: GatewayConfig, client: aioredis.Redis | None, keys: Any) -> RedisLimiter | MemoryLimiter:
    return RedisLimiter(config, client) if client is not None else MemoryLimiter(config, keys)
