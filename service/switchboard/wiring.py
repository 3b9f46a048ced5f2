"""The one place that builds everything a Switchboard process runs with, from the config and the settings:
adapters, the embedded model, one Redis client, breakers, the engine, the router (and its classifier), the
cache, callers and limits, the flow, pipelines and jobs, and the refresh of keys from Secrets Manager.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from switchboard.callers.auth import Authenticator
from switchboard.callers.limits import build_limiter
from switchboard.callers.store import build_key_store
from switchboard.config import GatewayConfig
from switchboard.engine.engine import Engine
from switchboard.engine.targets import Targets
from switchboard.flow import Flow
from switchboard.local import EmbeddedModel, EmbeddedModelError
from switchboard.logs import log
from switchboard.pipelines.jobs import JobStore
from switchboard.pipelines.runner import PipelineRunner
from switchboard.providers.base import Adapter
from switchboard.providers.registry import adapter_class
from switchboard.redact import register_secret
from switchboard.resilience.breaker import Breakers, BreakerState, MemoryBreakers
from switchboard.resilience.redis_breakers import RedisBreakers
from switchboard.resilience.retry import RetryPolicy
from switchboard.routing.router import Router
from switchboard.routing.rules import Services
from switchboard.secrets_manager import SecretKeys, secret_arns
from switchboard.settings import ADMIN_KEY_ENV, Settings
from switchboard.telemetry.record import Telemetry


def redis_client(url: str) -> aioredis.Redis:
    """Short timeouts: a Redis that does not answer must not hold requests (each user fails open or closed)."""
    return aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30)


def _load_classifier(config: GatewayConfig) -> Any:
    settings = config.routing.classifier
    if not settings.enabled or "classify" not in config.routing.rules:
        return None
    from switchboard.routing.classifier import Classifier

    classifier = Classifier.load(settings.model)
    classifier.classify("warm the word cache before the first request")  # the first call costs ~50 ms
    return classifier


def _build_cache(config: GatewayConfig, redis: aioredis.Redis | None, telemetry: Telemetry) -> Any:
    from switchboard.cache import build_cache

    return build_cache(config, redis)


class Runtime:
    def __init__(self, config: GatewayConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        env = settings.env
        self.telemetry = Telemetry(settings.telemetry)
        self.adapters: dict[str, Adapter] = {}
        self._embedded: dict[str, EmbeddedModel] = {}
        for name, provider in config.providers.items():
            api_key = provider.resolved_api_key(env)
            register_secret(api_key)
            base_url = provider.resolved_base_url(env)
            self.adapters[name] = adapter_class(provider.kind)(name, base_url, api_key, provider.key_required)
            if base_url is None and provider.embedded:
                self._embedded[name] = EmbeddedModel()
        self.redis = redis_client(settings.redis_url) if settings.redis_url else None
        targets = sorted(t.key for t in config.all_targets())
        self.breakers: Breakers = (RedisBreakers(self.redis, config.breaker, targets) if self.redis is not None
                                   else MemoryBreakers(config.breaker))
        self.targets = Targets(config)
        self.router = Router(config, Services(classifier=_load_classifier(config)))
        self.engine = Engine(self.adapters, self.breakers, RetryPolicy.from_config(config.retry), self.targets,
                             self.session, self.telemetry, config.default_max_tokens, config.timeouts.attempt_s)
        register_secret(settings.admin_key)
        self.keys = build_key_store(self.redis, settings)
        self.auth = Authenticator(config, settings, self.keys)
        self.limiter = build_limiter(config, self.redis, self.keys)
        self.cache = _build_cache(config, self.redis, self.telemetry)
        self.flow = Flow(config, self.router, self.engine, [self.telemetry], self.cache, self.limiter)
        self.pipelines = PipelineRunner(config, self.flow)
        self.jobs = JobStore(self.redis) if self.redis is not None else None
        key_envs = [p.key_env for p in config.providers.values() if p.key_env] + [ADMIN_KEY_ENV]
        arns = secret_arns(env, key_envs)
        self._secret_keys = SecretKeys(arns) if arns else None
        self._session: aiohttp.ClientSession | None = None
        self._background: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        if self._secret_keys is not None:
            self._use_keys(await asyncio.to_thread(self._secret_keys.fetch))
            self._background.append(asyncio.create_task(
                self._secret_keys.refresh_forever(self.settings.secret_refresh_s, self._use_keys)))
        for name, model in self._embedded.items():
            try:
                self.adapters[name].base_url = await asyncio.to_thread(model.start)
            except EmbeddedModelError as error:
                log.warning("embedded_model_unavailable", provider=name, error=str(error))
        for component in (self.keys, self.cache):
            start = getattr(component, "start", None)
            if start is not None:
                await start()
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.config.timeouts.connect_s),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            skip_auto_headers=("User-Agent",),
        )

    def _use_keys(self, keys: dict[str, str]) -> None:
        """Keys read from Secrets Manager replace the configured ones (rotation takes effect here)."""
        for name, provider in self.config.providers.items():
            if provider.key_env in keys:
                self.adapters[name].api_key = keys[provider.key_env]
        if ADMIN_KEY_ENV in keys:
            self.auth.use_admin_key(keys[ADMIN_KEY_ENV])

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        self._background.clear()
        for component in (self.cache, self.keys):
            stop = getattr(component, "close", None)
            if stop is not None:
                await stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.redis is not None:
            await self.redis.aclose()
        for model in self._embedded.values():
            model.stop()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Switchboard is not started: use `async with` or `await sb.start()`")
        return self._session

    @property
    def embedded_serving(self) -> bool:
        return any(self.adapters[name].base_url is not None for name in self._embedded)

    # -- health ---------------------------------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        """Each target's state: `ready`, `no_key`, `unavailable` or the breaker's state."""
        states: dict[str, str] = {}
        breaker_states = await self.breakers.states()
        for target in self.config.all_targets():
            adapter = self.adapters[target.provider]
            if adapter.base_url is None:
                states[target.key] = "unavailable"
            elif not adapter.usable:
                states[target.key] = "no_key"
            else:
                breaker = breaker_states.get(target.key, BreakerState.CLOSED)
                states[target.key] = "ready" if breaker is not BreakerState.OPEN else f"breaker_{breaker}"
        return states

    async def dependencies(self) -> dict[str, str]:
        """Shared state: `redis` (ok / unreachable / not configured) and what limits do without it."""
        if self.redis is None:
            return {"redis": "not configured (state in process memory)"}
        try:
            await self.redis.ping()
        except Exception as error:  # any failure to reach it: reported, never raised
            return {"redis": f"unreachable ({type(error).__name__})",
                    "limits": f"fail {self.config.limits.on_redis_error}"}
        return {"redis": "ok"}
