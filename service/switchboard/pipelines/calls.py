"""What the pipeline and job endpoints ask for, as calls the shared HTTP sequence runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.engine.context import RequestContext
from switchboard.errors import GatewayError
from switchboard.pipelines import jobs
from switchboard.pipelines.runner import resolve_inputs


class PipelineCall(Protocol):
    async def run(self, runtime: Any, ctx: RequestContext) -> Any: ...


@dataclass(frozen=True, slots=True)
class ListPipelines:
    async def run(self, runtime: Any, ctx: RequestContext) -> Any:
        return {
            name: {"description": p.description, "steps": [s.name for s in p.steps],
                   "inputs": {k: {"required": v.default is None, "default": v.default, "description": v.description}
                              for k, v in p.inputs.items()}}
            for name, p in runtime.config.pipelines.items()
        }


@dataclass(frozen=True, slots=True)
class RunPipeline:
    name: str
    inputs: dict[str, Any]
    timeout_s: float | None

    async def run(self, runtime: Any, ctx: RequestContext) -> Any:
        return await runtime.pipelines.run(self.name, self.inputs, run_id=ctx.id, timeout_s=self.timeout_s,
                                           trace=ctx.trace, caller=ctx.caller)


def _store(runtime: Any) -> jobs.JobStore:
    if runtime.jobs is None:
        raise jobs.JobsUnavailable("set REDIS_URL and run `switchboard worker`")
    store: jobs.JobStore = runtime.jobs
    return store


@dataclass(frozen=True, slots=True)
class SubmitJob:
    name: str
    inputs: dict[str, Any]
    idempotency_key: str | None

    async def run(self, runtime: Any, ctx: RequestContext) -> Any:
        pipeline = runtime.pipelines.get(self.name)
        inputs = resolve_inputs(self.name, pipeline, self.inputs)
        store = _store(runtime)
        job, created = await store.guarded(store.create(self.name, inputs, self.idempotency_key))
        if created:
            queue = jobs.celery_app(runtime.settings.redis_url, runtime.settings.job_visibility_s)
            try:
                await asyncio.to_thread(queue.send_task, jobs.TASK, args=[job["id"]], queue=jobs.QUEUE)
            except Exception as error:  # the broker is Redis: unreachable means no job was queued
                await store.guarded(store.update(job["id"], status="failed", error={"error": {
                    "code": "jobs_unavailable", "message": f"could not queue the job: {type(error).__name__}"}}))
                raise jobs.JobsUnavailable(f"the queue (Redis) is unreachable ({type(error).__name__})") from None
        return job, created


@dataclass(frozen=True, slots=True)
class GetJob:
    job_id: str

    async def run(self, runtime: Any, ctx: RequestContext) -> Any:
        store = _store(runtime)
        job = await store.guarded(store.get(self.job_id)) if len(self.job_id) <= 64 else None
        if job is None:
            raise GatewayError(404, "unknown_job", f"no job '{self.job_id[:64]}'", field="job_id")
        return job
