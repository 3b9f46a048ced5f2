"""The one place that builds everything a Switchboard process runs with, from the config and the settings:
adapters, the embedded model, one Redis client, breakers, the engine, the router (and its classifier), the
cache, callers and limits, the flow, pipelines and jobs, operators' holds, and the refresh of keys from
Secrets Manager.

Two lifetimes. Built once per process: the Redis client, the upstream session, the breakers' store, holds,
the cache, keys, auth and limits, jobs. Built from the config, and rebuilt by `reload` (SIGHUP, or
`POST /admin/config/reload`): adapters whose URL or key changed, targets, the router and its rules, the
engine's settings, the flow and pipelines. A reload builds the new set aside, then swaps it in with plain
assignments (no await between them): a request in flight keeps the flow, and so the config, it started with.
A file that does not validate changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from switchboard import logs
from switchboard.callers.auth import Authenticator
from switchboard.callers.limits import build_limiter
from switchboard.callers.store import build_key_store
from switchboard.config import CONFIG_ENV, ConfigError, GatewayConfig, load_config
from switchboard.core.errors import GatewayError
from switchboard.engine.engine import Engine
from switchboard.engine.targets import Targets
from switchboard.flow import Flow
from switchboard.local import EmbeddedModel, EmbeddedModelError
from switchboard.logs import log
from switchboard.operations import gauges, status
from switchboard.operations.holds import TargetHolds
from switchboard.operations.recent import RecentAttempts
from switchboard.operations.recent_records import RecentRecords
from switchboard.operations.records import write_operation
from switchboard.operations.reload import changed_sections, restart_needed
from switchboard.pipelines.jobs import QUEUE, JobStore
from switchboard.pipelines.runner import PipelineRunner
from switchboard.providers.base import Adapter
from switchboard.providers.registry import adapter_class
from switchboard.redact import register_secret
from switchboard.resilience.breaker import Breakers, MemoryBreakers
from switchboard.resilience.endpoints import EndpointBreakers
from switchboard.resilience.redis_breakers import RedisBreakers
from switchboard.resilience.retry import RetryPolicy
from switchboard.routing.dial import StrongShareDial
from switchboard.routing.router import Router
from switchboard.routing.rules import Services
from switchboard.secrets_manager import SecretKeys, secret_arns
from switchboard.settings import ADMIN_KEY_ENV, Settings
from switchboard.telemetry import metrics
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


def _classifier_settings(config: GatewayConfig) -> tuple[Any, bool]:
    return config.routing.classifier.model_dump(), "classify" in config.routing.rules


def _build_cache(config: GatewayConfig, redis: aioredis.Redis | None, telemetry: Telemetry) -> Any:
    from switchboard.cache import build_cache

    return build_cache(config, redis)


@dataclass(frozen=True, slots=True)
class _Built:
    """What the config shapes: built aside by a reload, then swapped in whole."""

    config: GatewayConfig
    adapters: dict[str, Adapter]
    adapter_specs: dict[str, tuple[Any, ...]]
    classifier: Any
    targets: Targets
    router: Router
    engine: Engine
    flow: Flow
    pipelines: PipelineRunner


class Runtime:
    def __init__(self, config: GatewayConfig, settings: Settings, config_path: str | Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path  # what a reload re-reads (else $SWITCHBOARD_CONFIG)
        self.telemetry = Telemetry(settings.telemetry)
        self._embedded: dict[str, EmbeddedModel] = {}
        self._adapter_specs: dict[str, tuple[Any, ...]] = {}
        self._secret_values: dict[str, str] = {}  # provider keys read from Secrets Manager (they win over env)
        self.redis = redis_client(settings.redis_url) if settings.redis_url else None
        targets = sorted(t.key for t in config.all_targets())
        self.breakers: Breakers = (RedisBreakers(self.redis, config.breaker, targets) if self.redis is not None
                                   else MemoryBreakers(config.breaker))
        self.endpoints = EndpointBreakers(self.breakers)
        self.holds = TargetHolds(self.redis)
        self.recent = RecentAttempts()
        self.dial = StrongShareDial(self.redis)  # the cost-quality dial's shared window (a reload keeps it)
        register_secret(settings.admin_key)
        self.keys = build_key_store(self.redis, settings)
        self.auth = Authenticator(config, settings, self.keys)
        self.limiter = build_limiter(config, self.redis, self.keys)
        self.limits = config.limits  # what the limiter enforces (a reload does not change it)
        self.cache = _build_cache(config, self.redis, self.telemetry)
        self.jobs = JobStore(self.redis) if self.redis is not None else None
        self._started_with = config
        self._install(self._build(config, self._adapters(config, {}), _load_classifier(config),
                                  [self.telemetry, self.recent]))
        self.recent_records = RecentRecords()  # the console's live tail and overview (a reload keeps it)
        self.flow.subscribe(self.recent_records)
        self.generation = 1  # the config's; each successful reload adds one
        self._reloading = asyncio.Lock()
        key_envs = [p.key_env for p in config.providers.values() if p.key_env] + [ADMIN_KEY_ENV]
        arns = secret_arns(settings.env, key_envs)
        self._secret_keys = SecretKeys(arns) if arns else None
        self._session: aiohttp.ClientSession | None = None
        self._background: list[asyncio.Task[None]] = []

    # -- what the config shapes ----------------------------------------------------------------------
    def _adapters(self, config: GatewayConfig,
                  current: dict[str, Adapter]) -> tuple[dict[str, Adapter], dict[str, tuple[Any, ...]]]:
        """An adapter per provider: the current one where its kind, URL and key are unchanged (its state, such
        as the embedded model's address, is kept), else a new one; and what each was built from."""
        env = self.settings.env
        adapters: dict[str, Adapter] = {}
        specs: dict[str, tuple[Any, ...]] = {}
        for name, provider in config.providers.items():
            api_key = provider.resolved_api_key(env)
            base_url = provider.resolved_base_url(env)
            spec = (provider.kind, base_url, api_key, provider.key_required, provider.embedded)
            specs[name] = spec
            if name in current and self._adapter_specs.get(name) == spec:
                adapters[name] = current[name]
                continue
            register_secret(api_key)
            if provider.key_env in self._secret_values:
                api_key = self._secret_values[provider.key_env]  # rotated in Secrets Manager
            adapters[name] = adapter_class(provider.kind)(name, base_url, api_key, provider.key_required)
            if base_url is None and provider.embedded:
                if name in self._embedded and self._embedded[name].base_url is not None:
                    adapters[name].base_url = self._embedded[name].base_url  # already serving
                else:
                    self._embedded.setdefault(name, EmbeddedModel())
        return adapters, specs

    def _build(self, config: GatewayConfig, adapters: tuple[dict[str, Adapter], dict[str, tuple[Any, ...]]],
               classifier: Any, recorders: list[Any]) -> _Built:
        adapters, specs = adapters
        targets = Targets(config)
        self.dial.configure(config.routing.classifier.strong_share, config.routing.classifier.complex_threshold)
        router = Router(config, Services(classifier=classifier, dial=self.dial))
        engine = Engine(adapters, self.breakers, RetryPolicy.from_config(config.retry), targets, self.session,
                        self.telemetry, config.default_max_tokens, config.timeouts.attempt_s, self.holds,
                        self.endpoints)
        flow = Flow(config, router, engine, recorders, self.cache, self.limiter)
        return _Built(config, adapters, specs, classifier, targets, router, engine, flow,
                      PipelineRunner(config, flow))

    def _install(self, built: _Built) -> None:
        # Plain assignments, no await: no request sees half of one config and half of the other.
        self.config = built.config
        self.adapters = built.adapters
        self._adapter_specs = built.adapter_specs
        self._classifier = built.classifier
        self.targets = built.targets
        self.router = built.router
        self.engine = built.engine
        self.flow = built.flow
        self.pipelines = built.pipelines
        self.endpoints.track([adapter.host for adapter in built.adapters.values()])

    # -- reload --------------------------------------------------------------------------------------
    async def reload(self, source: str, by: str | None = None) -> dict[str, Any]:
        """Re-read the config file, validate it, and swap it in; what changed. A file that does not validate
        (or cannot be built) changes nothing: `GatewayError` 422 `config_invalid`, naming the field. Each
        reload writes an operation record and counts in `switchboard_config_reloads_total`."""
        path = self.config_path or self.settings.env.get(CONFIG_ENV) or None
        if path is None:
            raise GatewayError(409, "reload_unavailable", "this process was not started from a config file "
                               "(--config or $SWITCHBOARD_CONFIG): there is nothing to re-read")
        async with self._reloading:
            try:
                config = await asyncio.to_thread(load_config, path, self.settings.env)
                classifier = (self._classifier if _classifier_settings(config) == _classifier_settings(self.config)
                              else await asyncio.to_thread(_load_classifier, config))
                built = self._build(config, self._adapters(config, self.adapters), classifier,
                                    list(self.flow.recorders))
            except ConfigError as error:
                raise self._refused(source, by, str(error), error.field) from None
            except Exception as error:  # noqa: BLE001 (anything that stops the build keeps the running config)
                raise self._refused(source, by, f"{path}: {type(error).__name__}: {error}", None) from None
            old = self.config
            changed = changed_sections(old, config)
            needed = restart_needed(self._started_with, config)
            self._install(built)
            self.generation += 1
            self.breakers.reconfigure(config.breaker, sorted(t.key for t in config.all_targets()))
            if config.log_level != old.log_level:
                logs.configure(config.log_level)
            await self._start_embedded()
            self.endpoints.track([adapter.host for adapter in self.adapters.values()])
        metrics.CONFIG_RELOADS.labels("ok").inc()
        write_operation("reload", target=None, result="ok", source=source, by=by, file=str(path),
                        generation=self.generation, changed=changed, restart_needed=needed, reason=None)
        return {"result": "ok", "file": str(path), "generation": self.generation, "changed": changed,
                "restart_needed": needed}

    def _refused(self, source: str, by: str | None, message: str, field: str | None) -> GatewayError:
        metrics.CONFIG_RELOADS.labels("error").inc()
        write_operation("reload", target=None, result="error", source=source, by=by, error=message, field=field,
                        generation=self.generation, reason=None)
        log.warning("config_reload_refused", error=message, field=field)
        return GatewayError(422, "config_invalid", f"the running config is unchanged: {message}", field=field)

    async def reload_quietly(self, source: str) -> None:
        """A reload no one waits for (SIGHUP): its outcome is in its operation record and the metric."""
        try:
            await self.reload(source)
        except GatewayError:
            pass

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        if self._secret_keys is not None:
            self._use_keys(await asyncio.to_thread(self._secret_keys.fetch))
            self._background.append(asyncio.create_task(
                self._secret_keys.refresh_forever(self.settings.secret_refresh_s, self._use_keys)))
        await self._start_embedded()
        self.endpoints.track([adapter.host for adapter in self.adapters.values()])  # the embedded model's too
        for component in (self.keys, self.cache, self.holds, self.endpoints, self.dial):
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

    async def _start_embedded(self) -> None:
        for name, model in self._embedded.items():
            adapter = self.adapters.get(name)
            if adapter is None or adapter.base_url is not None:
                continue
            try:
                adapter.base_url = await asyncio.to_thread(model.start)
            except EmbeddedModelError as error:
                log.warning("embedded_model_unavailable", provider=name, error=str(error))

    def _use_keys(self, keys: dict[str, str]) -> None:
        """Keys read from Secrets Manager replace the configured ones (rotation takes effect here)."""
        self._secret_values = dict(keys)
        for name, provider in self.config.providers.items():
            if provider.key_env in keys:
                self.adapters[name].api_key = keys[provider.key_env]
        if ADMIN_KEY_ENV in keys:
            self.auth.use_admin_key(keys[ADMIN_KEY_ENV])

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        self._background.clear()
        for component in (self.dial, self.endpoints, self.holds, self.cache, self.keys):
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
        return any(name in self.adapters and self.adapters[name].base_url is not None for name in self._embedded)

    # -- health and operations ---------------------------------------------------------------------
    async def target_states(self, recent: bool = False) -> list[dict[str, Any]]:
        """Every target: reachable at all, an operator's hold, its breaker (and this replica's recent attempts)."""
        return await status.target_states(self.config, self.adapters, self.breakers, self.endpoints, self.holds,
                                          self.recent if recent else None)

    async def readiness(self) -> dict[str, str]:
        """Each target's state: `ready`, `no_key`, `unavailable`, `drained`, `forced_open`, `forced_closed`, its
        endpoint's breaker (`endpoint_open`, `endpoint_half_open`) or its own (`breaker_open`, ...)."""
        return {row["target"]: row["state"] for row in await self.target_states()}

    async def scrape(self) -> None:
        """Set the gauges read at scrape time (breakers, drains, Redis, jobs, budgets, the complexity threshold)."""
        metrics.COMPLEXITY_THRESHOLD.set(self.dial.threshold)
        jobs = self.jobs
        await gauges.update(self.config, self.limits, self.adapters, self.breakers, self.endpoints, self.holds,
                            self.redis, QUEUE,
                            (lambda: jobs.running(self.settings.job_visibility_s)) if jobs is not None else None)

    async def dependencies(self) -> dict[str, str]:
        """Shared state: `redis` (ok / unreachable / not configured) and what limits do without it."""
        if self.redis is None:
            return {"redis": "not configured (state in process memory)"}
        try:
            await self.redis.ping()
        except Exception as error:  # any failure to reach it: reported, never raised
            return {"redis": f"unreachable ({type(error).__name__})",
                    "limits": f"fail {self.limits.on_redis_error}"}
        return {"redis": "ok"}
