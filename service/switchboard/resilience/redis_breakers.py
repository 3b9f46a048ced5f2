"""The breaker state machine of `breaker.CircuitBreaker`, kept in Redis so that all replicas agree.

Each target is a hash `sb:breaker:{target}`: `failures` (consecutive), `opened_at` (0 when closed) and
`probe_until` (a half-open probe is in flight until then: a lease, so a replica that dies mid-probe does
not keep the breaker half-open forever). Every transition is one Lua script on Redis's own clock, so
replicas' clocks do not matter. If Redis cannot be reached, the replica falls back to its own in-memory
breakers rather than failing requests.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.config import BreakerConfig
from switchboard.logs import log
from switchboard.resilience.breaker import BreakerState, MemoryBreakers

PREFIX = "sb:breaker:"
PROBE_WAIT_S = 1.0  # what a skipped caller is told while another replica probes
NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "

# ARGV: cooldown_s, probe lease_s. Returns 1 (closed, no failures: go), 3 (closed with failures: go),
# 2 (half-open: you are the probe), -1 - N (open: skip; a probe may go in N milliseconds), or 0 (skip: another
# replica's probe is in flight).
ALLOW = NOW + """
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
if opened == 0 then
  if tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') > 0 then return 3 end
  return 1
end
local left = tonumber(ARGV[1]) - (now - opened)
if left > 0 then return -1 - math.floor(left * 1000) end
local probe = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if probe > now then return 0 end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]))
return 2
"""
# ARGV: threshold, ttl_s.
FAILURE = NOW + """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local probing = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') > 0
if probing or failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'opened_at', now, 'probe_until', 0)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return failures
"""
RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'probe_until', 0) end
return 0
"""
# Returns closed / open / half_open.
STATE = NOW + """
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
if opened == 0 then return 'closed' end
if tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') > now then return 'half_open' end
if now - opened >= tonumber(ARGV[1]) then return 'half_open' end
return 'open'
"""
# Reads without changing anything. Returns {state, failures, ms until a probe may go (0 unless open)}.
PEEK = NOW + """
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if opened == 0 then return {'closed', failures, 0} end
if tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') > now then return {'half_open', failures, 0} end
local left = tonumber(ARGV[1]) - (now - opened)
if left <= 0 then return {'half_open', failures, 0} end
return {'open', failures, math.floor(left * 1000)}
"""


class RedisBreakers:
    def __init__(self, client: aioredis.Redis, config: BreakerConfig, targets: list[str],
                 probe_lease_s: float = 60.0) -> None:
        self._redis = client
        self._config = config
        self._targets = targets
        self._lease = probe_lease_s
        self._ttl = int(max(config.cooldown_s * 20, 3600))
        self._allow = client.register_script(ALLOW)
        self._failure = client.register_script(FAILURE)
        self._state = client.register_script(STATE)
        self._release = client.register_script(RELEASE)
        self._peek = client.register_script(PEEK)
        self._fallback = MemoryBreakers(config)
        self._degraded = False
        # Targets whose last `allow` here saw failures or a probe: only their successes need a write.
        # A target seen clean skips the reset, saving a round trip on nearly every request.
        self._dirty: set[str] = set()
        self._open_until: dict[str, float] = {}  # monotonic time until which a target is known to be open

    def _unreachable(self, error: Exception) -> None:
        if not self._degraded:
            log.warning("breakers_in_memory", reason=f"Redis unreachable: {type(error).__name__}")
        self._degraded = True

    async def admit(self, key: str) -> float | None:
        # An open breaker stays open until its cooldown ends: no need to ask Redis again before then, so a
        # request that finds every target open is refused without a round trip.
        open_until = self._open_until.get(key)
        if open_until is not None:
            left = open_until - time.monotonic()
            if left > 0:
                return left
            del self._open_until[key]
        try:
            verdict = int(await self._allow(keys=[PREFIX + key], args=[self._config.cooldown_s, self._lease]))
        except (RedisError, OSError) as error:
            self._unreachable(error)
            return await self._fallback.admit(key)
        self._degraded = False
        if verdict == 1:
            self._dirty.discard(key)
        else:
            self._dirty.add(key)
        if verdict == 0:
            return PROBE_WAIT_S  # another replica's probe decides soon; not remembered here
        if verdict < 0:
            left = (-verdict - 1) / 1000
            self._open_until[key] = time.monotonic() + left  # nothing can close it before its cooldown ends
            return left
        return None

    async def record_success(self, key: str) -> None:
        if key not in self._dirty and not self._degraded:
            return
        self._dirty.discard(key)
        try:
            await self._redis.delete(PREFIX + key)
        except (RedisError, OSError) as error:
            self._unreachable(error)
            await self._fallback.record_success(key)

    async def record_failure(self, key: str) -> None:
        self._dirty.add(key)
        self._open_until.pop(key, None)
        try:
            await self._failure(keys=[PREFIX + key], args=[self._config.failure_threshold, self._ttl])
        except (RedisError, OSError) as error:
            self._unreachable(error)
            await self._fallback.record_failure(key)

    async def release(self, key: str) -> None:
        try:
            await self._release(keys=[PREFIX + key])
        except (RedisError, OSError) as error:
            self._unreachable(error)
            await self._fallback.release(key)

    async def peek(self, keys: list[str]) -> dict[str, tuple[BreakerState, int, float]]:
        """(state, consecutive failures, seconds until a probe may go) of each key, changing nothing; raises
        RedisError / OSError (the caller keeps what it knew)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._peek(keys=[PREFIX + key], args=[self._config.cooldown_s], client=pipe)
            values = await pipe.execute()
        return {key: (BreakerState(state.decode() if isinstance(state, bytes) else state), int(failures),
                      int(left_ms) / 1000) for key, (state, failures, left_ms) in zip(keys, values, strict=True)}

    def reconfigure(self, config: BreakerConfig, targets: list[str]) -> None:
        """A reloaded config: its threshold, cooldown and targets (the states reported) apply from now on."""
        self._config = config
        self._targets = targets
        self._ttl = int(max(config.cooldown_s * 20, 3600))
        self._fallback.reconfigure(config, targets)

    async def states(self) -> dict[str, BreakerState]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for target in self._targets:
                    await self._state(keys=[PREFIX + target], args=[self._config.cooldown_s], client=pipe)
                values = await pipe.execute()
        except (RedisError, OSError) as error:
            self._unreachable(error)
            return await self._fallback.states()
        return {target: BreakerState(value.decode() if isinstance(value, bytes) else value)
                for target, value in zip(self._targets, values, strict=True)}

