"""The worker side of durable jobs: the Celery task that runs one job, in a `switchboard worker` process.

A job is acknowledged only when it has ended (`acks_late`), so a worker that dies mid-job leaves it on the
queue for another; steps are stored as they finish, so the redelivered job does not pay for them twice. Every
job it takes ends `succeeded` or `failed` (with the error and every attempt), and the worker logs one line
when a job starts and one when it ends.

SIGHUP reloads the config (instead of Celery's restart): the main process passes the signal on to its pool
processes, and each reloads before its next job; a job in flight keeps the config it started with. (A pool
process listens from its first job on, since billiard resets its signal handlers after Celery's initialiser;
one that gets SIGHUP before that is replaced, and the new one reads the config afresh.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

from celery import Celery, signals

from switchboard.config import load_config
from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.logs import log
from switchboard.pipelines.jobs import TASK, TERMINAL, JobStore, Owner, celery_app
from switchboard.settings import Settings
from switchboard.telemetry import tracing
from switchboard.wiring import Runtime


class _Worker:
    """Per worker process: one event loop, one started runtime (with its one Redis client), kept across tasks."""

    loop: asyncio.AbstractEventLoop | None = None
    runtime: Runtime | None = None
    reload_asked = False  # set by SIGHUP; the next job reloads first

    @classmethod
    def run(cls, job_id: str) -> str:
        if cls.loop is None:
            if threading.current_thread() is threading.main_thread():  # prefork and solo: this process's jobs
                signal.signal(signal.SIGHUP, _ask_reload)
            cls.loop = asyncio.new_event_loop()
        return cls.loop.run_until_complete(cls._run(job_id))

    @classmethod
    async def _run(cls, job_id: str) -> str:
        if cls.runtime is None:
            from switchboard import logs

            settings = Settings.from_env()
            tracing.configure(env=settings.env)
            config = load_config(env=settings.env)
            logs.configure(config.log_level)
            runtime = Runtime(config, settings)
            await runtime.start()
            if runtime.jobs is None:
                raise RuntimeError("REDIS_URL is not set")
            cls.runtime = runtime
            cls.reload_asked = False  # it has just read the config
        else:
            if cls.reload_asked:
                cls.reload_asked = False
                await cls.runtime.reload_quietly("signal")
            await cls.runtime.holds.refresh()  # the loop slept between jobs: the drains in force now
        assert cls.runtime.jobs is not None
        return await run_job(cls.runtime, cls.runtime.jobs, job_id)


async def run_job(runtime: Any, store: JobStore, job_id: str) -> str:
    job = await store.get(job_id)
    if job is None:
        return "missing"
    if job["status"] in TERMINAL:  # a redelivery of a job that already ended
        return str(job["status"])
    deliveries = await store.delivered(job_id)
    await store.update(job_id, status="running")
    started = time.perf_counter()
    log.info("job_started", job_id=job_id, pipeline=job["pipeline"], delivery=deliveries)
    status = await _run_pipeline(runtime, store, job_id, job)
    log.info("job_finished", job_id=job_id, pipeline=job["pipeline"], status=status,
             latency_ms=round((time.perf_counter() - started) * 1000, 3))
    return status


async def caller_of(runtime: Runtime, owner: Owner) -> Caller:
    """The caller a job runs as: the key that submitted it, as it is now (a key revoked since fails the job)."""
    if owner.admin:
        return runtime.auth.admin
    if owner.key_id is None:
        return runtime.auth.anonymous
    return await runtime.auth.caller_of(owner.key_id)


async def _run_pipeline(runtime: Any, store: JobStore, job_id: str, job: dict[str, Any]) -> str:
    async def progress(event: str, step: str, _value: Any) -> None:
        if event == "started":
            await store.update(job_id, current_step=step)

    span = tracing.start("switchboard.job", attributes={"switchboard.job_id": job_id,
                                                         "switchboard.pipeline": job["pipeline"]})
    try:
        caller = await caller_of(runtime, Owner.from_dict(job.get("owner")))
        hold = await store.take_hold(job_id)
        if hold is not None:  # queued, it held its worst case; running, each step reserves its own
            await runtime.flow.release_held(RequestContext(front_door="pipeline", caller=caller),
                                            int(hold["tokens"]), float(hold["cost_usd"]))
        result = await runtime.pipelines.run(
            job["pipeline"], job["inputs"], run_id=job_id, store=store.steps(job_id), progress=progress,
            trace=tracing.context_of(span), caller=caller,
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


def _ask_reload(*_: Any) -> None:
    _Worker.reload_asked = True


@signals.worker_ready.connect
def _worker_ready(sender: Any = None, **_: Any) -> None:
    """Replace Celery's SIGHUP handler (restart the worker) in the main process: pass the signal on to the pool
    processes, and reload here too (the threads pool runs jobs in this process)."""

    def on_hup(*_: Any) -> None:
        _ask_reload()
        pool = getattr(sender, "pool", None)
        for pid in (pool.info.get("processes", []) if pool is not None else []):
            if pid != os.getpid():
                os.kill(pid, signal.SIGHUP)

    signal.signal(signal.SIGHUP, on_hup)


def pipeline_job(job_id: str) -> str:
    return _Worker.run(job_id)


def worker_app(url: str, visibility_s: float) -> Celery:
    """The Celery app with the job task registered: what `switchboard worker` runs."""
    app = celery_app(url, visibility_s)
    if TASK not in app.tasks:
        app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)(pipeline_job)
    return app
