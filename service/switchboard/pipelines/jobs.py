"""Durable pipeline jobs: Celery with Redis as broker and result backend, job state in Redis. This module is
the service's side (the store, queueing by task name); `switchboard.worker` is the worker's.

The broker redelivers an unacknowledged job once `SWITCHBOARD_JOB_VISIBILITY_S` has passed (default one
hour): keep it longer than your longest pipeline, or a slow job is started a second time beside the first.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from celery import Celery
from celery.signals import setup_logging
from redis.exceptions import RedisError

from switchboard.core.caller import Caller
from switchboard.core.errors import GatewayError
from switchboard.core.response import CompletionResponse
from switchboard.logs import render_scrubbed

QUEUE = "switchboard.pipelines"
TASK = "switchboard.pipeline_job"
JOB_TTL_S = 7 * 24 * 3600
TERMINAL = ("succeeded", "failed")
RUNNING = "sb:jobs:running"  # a sorted set: job id -> when it started running (counted for the jobs gauge)


class JobsUnavailable(GatewayError):
    def __init__(self, reason: str) -> None:
        super().__init__(503, "jobs_unavailable", f"durable jobs need Redis: {reason}",
                         headers={"retry-after": "5"})


class _JsonFormatter(logging.Formatter):
    """Celery's own log records as the same JSON lines as ours (no `[... WARNING/ForkPoolWorker-3]` prefix)."""

    def format(self, record: logging.LogRecord) -> str:
        event = {"event": record.getMessage(), "logger": record.name, "level": record.levelname.lower()}
        return render_scrubbed(None, record.levelname.lower(), event)


@setup_logging.connect
def _celery_logging(loglevel: Any = None, **_: Any) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(loglevel or logging.WARNING)


def make_celery(url: str, visibility_s: float = 3600.0) -> Celery:
    """The Celery app: the service sends tasks by name with it; `switchboard.worker` registers the task body."""
    app = Celery("switchboard", broker=url, backend=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=JOB_TTL_S,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_s},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,  # our request lines stay plain JSON on stdout
    )
    return app


JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def tenant_tag(tenant: str | None) -> str:
    """A tenant in Redis keys: a fixed-width digest (any name, no separator to confuse)."""
    return hashlib.sha256((tenant or "-").encode()).hexdigest()[:16]


class JobStore:
    """Jobs as Redis hashes: `sb:job:{id}` holds the state and its owner (tenant, key, tier), `sb:job:{id}:steps`
    the finished steps. Idempotency keys are claimed per tenant (`sb:idem:{tenant tag}:{pipeline}:{digest}`).

    The HTTP side calls `create` and `get` through `guarded`, so an unreachable Redis is a 503 naming Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def guarded(self, work: Any) -> Any:
        try:
            return await work
        except (RedisError, OSError) as error:
            raise JobsUnavailable(f"Redis is unreachable ({type(error).__name__})") from None

    @staticmethod
    def _key(job_id: str) -> str:
        return f"sb:job:{job_id}"

    @staticmethod
    def fingerprint(pipeline: str, inputs: dict[str, str]) -> str:
        return hashlib.sha256(orjson.dumps([pipeline, inputs], option=orjson.OPT_SORT_KEYS)).hexdigest()

    @staticmethod
    def _claim(owner: Owner, pipeline: str, idempotency_key: str) -> str:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        return f"sb:idem:{tenant_tag(owner.tenant)}:{pipeline}:{digest}"

    async def replay(self, owner: Owner, pipeline: str, inputs: dict[str, str],
                     idempotency_key: str | None) -> dict[str, Any] | None:
        """The job an earlier submission of this tenant with this idempotency key made (or a 409 when the key
        was used for a different body); None when there is none."""
        if idempotency_key is None:
            return None
        job_id = await self.redis.get(self._claim(owner, pipeline, idempotency_key))
        return None if job_id is None else await self._replayed(job_id.decode(), pipeline, inputs)

    async def _replayed(self, job_id: str, pipeline: str, inputs: dict[str, str]) -> dict[str, Any]:
        existing = await self.get(job_id)
        if existing is None:
            raise GatewayError(409, "idempotency_conflict", "the job for this Idempotency-Key has expired",
                               field="Idempotency-Key")
        if existing["fingerprint"] != self.fingerprint(pipeline, inputs):
            raise GatewayError(409, "idempotency_key_reused", "this Idempotency-Key was used for a different request",
                               field="Idempotency-Key")
        return existing

    async def create(self, owner: Owner, pipeline: str, inputs: dict[str, str], idempotency_key: str | None,
                     hold: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """A new queued job owned by `owner` (with the limits `hold` its submission reserved), or the job an
        earlier submission of the same tenant with the same idempotency key made (False: not created)."""
        job_id = uuid.uuid4().hex
        now = time.time()
        fields = {"id": job_id, "pipeline": pipeline, "inputs": orjson.dumps(inputs), "status": "queued",
                  "fingerprint": self.fingerprint(pipeline, inputs), "created_at": now, "updated_at": now,
                  "deliveries": 0, "owner": orjson.dumps(owner.to_dict()), "hold": orjson.dumps(hold)}
        await self.redis.hset(self._key(job_id), mapping=fields)
        await self.redis.expire(self._key(job_id), JOB_TTL_S)
        if idempotency_key is not None:
            claim = self._claim(owner, pipeline, idempotency_key)
            if not await self.redis.set(claim, job_id, nx=True, ex=JOB_TTL_S):
                await self.redis.delete(self._key(job_id))
                return await self._replayed((await self.redis.get(claim)).decode(), pipeline, inputs), False
        return await self.get(job_id) or fields, True

    async def owned(self, job_id: str, caller: Caller) -> dict[str, Any] | None:
        """The job, if `caller` may read it: a key of the tenant that submitted it, or the admin key."""
        if not JOB_ID.match(job_id):
            return None
        job = await self.get(job_id)
        if job is None:
            return None
        owner = Owner.from_dict(job.get("owner"))
        return job if caller.admin or owner.tenant == caller.tenant else None

    async def get(self, job_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(self._key(job_id))
        if not raw:
            return None
        job = {key.decode(): value.decode() for key, value in raw.items()}
        for field in ("inputs", "result", "error", "owner", "hold"):
            if field in job:
                job[field] = orjson.loads(job[field])
        for field in ("created_at", "updated_at"):
            job[field] = float(job[field])
        job["deliveries"] = int(job["deliveries"])
        return job

    async def update(self, job_id: str, **fields: Any) -> None:
        values = {k: orjson.dumps(v) if isinstance(v, dict) else v for k, v in fields.items()}
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._key(job_id), mapping={**values, "updated_at": now})
            if fields.get("status") == "running":
                pipe.zadd(RUNNING, {job_id: now})
            elif fields.get("status") in TERMINAL:
                pipe.zrem(RUNNING, job_id)
            await pipe.execute()

    async def running(self, horizon_s: float) -> int:
        """Jobs running now: started within `horizon_s` (a job older than the broker's visibility timeout is
        redelivered, and counted again when it starts again) and not ended."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(RUNNING, "-inf", time.time() - horizon_s)
            pipe.zcard(RUNNING)
            _, count = await pipe.execute()
        return int(count)

    async def take_hold(self, job_id: str) -> dict[str, Any] | None:
        """The limits hold its submission made, to give back: once, whoever asks first (a redelivered job
        gets None)."""
        if not await self.redis.hsetnx(self._key(job_id), "hold_released", 1):
            return None
        raw = await self.redis.hget(self._key(job_id), "hold")
        hold = orjson.loads(raw) if raw else None
        return hold if isinstance(hold, dict) else None

    async def delivered(self, job_id: str) -> int:
        return int(await self.redis.hincrby(self._key(job_id), "deliveries", 1))

    def steps(self, job_id: str) -> JobSteps:
        return JobSteps(self.redis, f"{self._key(job_id)}:steps")


@dataclass(frozen=True, slots=True)
class Owner:
    """Who submitted a job: its steps run as this caller, and only this tenant (or the admin key) reads it."""

    tenant: str | None
    key_id: str | None
    tier: str | None
    admin: bool = False

    @classmethod
    def of(cls, caller: Caller) -> Owner:
        return cls(caller.tenant, caller.key_id, caller.tier, caller.admin)

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "key_id": self.key_id, "tier": self.tier, "admin": self.admin}

    @classmethod
    def from_dict(cls, data: Any) -> Owner:
        data = data if isinstance(data, dict) else {}
        return cls(data.get("tenant"), data.get("key_id"), data.get("tier"), bool(data.get("admin")))


class JobSteps:
    """The `StepStore` of one job."""

    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self.redis = client
        self.key = key

    async def get(self, step: str) -> CompletionResponse | None:
        raw = await self.redis.hget(self.key, step)
        return CompletionResponse.model_validate_json(raw) if raw else None

    async def put(self, step: str, response: CompletionResponse) -> None:
        await self.redis.hset(self.key, step, response.model_dump_json())
        await self.redis.expire(self.key, JOB_TTL_S)

    async def all(self) -> dict[str, CompletionResponse]:
        raw = await self.redis.hgetall(self.key)
        return {name.decode(): CompletionResponse.model_validate_json(value) for name, value in raw.items()}


def public_view(job: dict[str, Any]) -> dict[str, Any]:
    """What `GET /jobs/{id}` shows."""
    view = {key: job[key] for key in ("id", "pipeline", "status", "inputs", "created_at", "updated_at",
                                       "deliveries") if key in job}
    owner = job.get("owner")
    if isinstance(owner, dict):
        view["tenant"] = owner.get("tenant")
    if job["status"] == "running":
        view["current_step"] = job.get("current_step")
    for key in ("result", "error"):
        if key in job:
            view[key] = job[key]
    return view


_apps: dict[str, Celery] = {}


def celery_app(url: str, visibility_s: float = 3600.0) -> Celery:
    """The Celery app for a Redis URL (one per process and URL)."""
    if url not in _apps:
        _apps[url] = make_celery(url, visibility_s)
    return _apps[url]
