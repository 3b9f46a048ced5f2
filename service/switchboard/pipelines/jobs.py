"""Durable pipeline jobs: Celery with Redis as broker and result backend, job state in Redis.

A job is acknowledged only when it has ended (`acks_late`), so a worker that dies mid-job leaves it on
the queue for another; steps are stored as they finish, so the redelivered job does not pay for them
twice. Every accepted job ends `succeeded` or `failed` (with the error and every attempt).

The broker redelivers an unacknowledged job once `SWITCHBOARD_JOB_VISIBILITY_S` has passed (default one
hour): keep it longer than your longest pipeline, or a slow job is started a second time beside the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from celery import Celery

from switchboard.errors import GatewayError
from switchboard.schema import CompletionResponse
from switchboard.telemetry import tracing

REDIS_URL_ENV = "REDIS_URL"
QUEUE = "switchboard.pipelines"
TASK = "switchboard.pipeline_job"
JOB_TTL_S = 7 * 24 * 3600
TERMINAL = ("succeeded", "failed")


def redis_url() -> str | None:
    return os.environ.get(REDIS_URL_ENV) or None


def make_celery(url: str) -> Celery:
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
        broker_transport_options={"visibility_timeout": float(os.environ.get("SWITCHBOARD_JOB_VISIBILITY_S", 3600))},
        worker_hijack_root_logger=False,
    )
    app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)(pipeline_job)
    return app


class JobStore:
    """Jobs as Redis hashes: `sb:job:{id}` holds the state, `sb:job:{id}:steps` the finished steps."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    @staticmethod
    def _key(job_id: str) -> str:
        return f"sb:job:{job_id}"

    async def create(
        self, pipeline: str, inputs: dict[str, str], idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """A new queued job, or the job an earlier submission with the same idempotency key made."""
        fingerprint = hashlib.sha256(orjson.dumps([pipeline, inputs], option=orjson.OPT_SORT_KEYS)).hexdigest()
        job_id = uuid.uuid4().hex
        now = time.time()
        fields = {"id": job_id, "pipeline": pipeline, "inputs": orjson.dumps(inputs), "status": "queued",
                  "fingerprint": fingerprint, "created_at": now, "updated_at": now, "deliveries": 0}
        await self.redis.hset(self._key(job_id), mapping=fields)
        await self.redis.expire(self._key(job_id), JOB_TTL_S)
        if idempotency_key is not None:
            claim = f"sb:idem:{pipeline}:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"
            if not await self.redis.set(claim, job_id, nx=True, ex=JOB_TTL_S):
                await self.redis.delete(self._key(job_id))
                existing = await self.get((await self.redis.get(claim)).decode())
                if existing is None:
                    raise GatewayError(409, "idempotency_conflict", "the job for this Idempotency-Key has expired")
                if existing["fingerprint"] != fingerprint:
                    raise GatewayError(409, "idempotency_key_reused",
                                       "this Idempotency-Key was used for a different request", field="Idempotency-Key")
                return existing, False
        return await self.get(job_id) or fields, True

    async def get(self, job_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(self._key(job_id))
        if not raw:
            return None
        job = {key.decode(): value.decode() for key, value in raw.items()}
        for field in ("inputs", "result", "error"):
            if field in job:
                job[field] = orjson.loads(job[field])
        for field in ("created_at", "updated_at"):
            job[field] = float(job[field])
        job["deliveries"] = int(job["deliveries"])
        return job

    async def update(self, job_id: str, **fields: Any) -> None:
        values = {k: orjson.dumps(v) if isinstance(v, dict) else v for k, v in fields.items()}
        await self.redis.hset(self._key(job_id), mapping={**values, "updated_at": time.time()})

    async def delivered(self, job_id: str) -> int:
        return int(await self.redis.hincrby(self._key(job_id), "deliveries", 1))

    def steps(self, job_id: str) -> JobSteps:
        return JobSteps(self.redis, f"{self._key(job_id)}:steps")


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


def public_view(job: dict[str, Any]) -> dict[str, Any]:
    """What `GET /jobs/{id}` shows."""
    view = {key: job[key] for key in ("id", "pipeline", "status", "inputs", "created_at", "updated_at",
                                       "deliveries") if key in job}
    if job["status"] == "running":
        view["current_step"] = job.get("current_step")
    for key in ("result", "error"):
        if key in job:
            view[key] = job[key]
    return view


# -- the worker side -------------------------------------------------------------------------------
class _Worker:
    """Per worker process: one event loop, one started Switchboard, one Redis client, kept across tasks."""

    loop: asyncio.AbstractEventLoop | None = None
    switchboard: Any = None
    store: JobStore | None = None

    @classmethod
    def run(cls, job_id: str) -> str:
        if cls.loop is None:
            cls.loop = asyncio.new_event_loop()
        return cls.loop.run_until_complete(cls._run(job_id))

    @classmethod
    async def _run(cls, job_id: str) -> str:
        if cls.switchboard is None:
            from switchboard import logs
            from switchboard.gateway import Switchboard

            tracing.configure()
            switchboard = Switchboard.from_config()
            logs.configure(switchboard.config.log_level)
            await switchboard.start()
            cls.switchboard = switchboard
            url = redis_url()
            if url is None:
                raise RuntimeError("REDIS_URL is not set")
            cls.store = JobStore(aioredis.from_url(url))
        assert cls.store is not None
        return await run_job(cls.switchboard, cls.store, job_id)


async def run_job(switchboard: Any, store: JobStore, job_id: str) -> str:
    job = await store.get(job_id)
    if job is None:
        return "missing"
    if job["status"] in TERMINAL:  # a redelivery of a job that already ended
        return job["status"]
    await store.delivered(job_id)
    await store.update(job_id, status="running")

    async def progress(event: str, step: str, _response: Any) -> None:
        if event == "started":
            await store.update(job_id, current_step=step)

    span = tracing.start("switchboard.job", attributes={"switchboard.job_id": job_id,
                                                         "switchboard.pipeline": job["pipeline"]})
    try:
        result = await switchboard.pipelines.run(
            job["pipeline"], job["inputs"], run_id=job_id, store=store.steps(job_id), progress=progress,
            trace=tracing.context_of(span),
        )
    except GatewayError as error:
        tracing.end(span, error=error.body.error.code)
        await store.update(job_id, status="failed", error=error.body.model_dump(mode="json"))
        return "failed"
    except Exception as error:  # recorded, never lost: the job ends failed with the reason
        tracing.end(span, error="internal_error")
        await store.update(job_id, status="failed",
                           error={"error": {"code": "internal_error", "message": f"{type(error).__name__}: {error}"}})
        return "failed"
    tracing.end(span)
    await store.update(job_id, status="succeeded", result=result.model_dump(mode="json"))
    return "succeeded"


def pipeline_job(job_id: str) -> str:
    return _Worker.run(job_id)


_apps: dict[str, Celery] = {}


def celery_app(url: str) -> Celery:
    """The Celery app for a Redis URL (one per process and URL)."""
    if url not in _apps:
        _apps[url] = make_celery(url)
    return _apps[url]
