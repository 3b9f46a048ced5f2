"""Pipeline endpoints: list them, run one and wait, or submit a durable job and poll it. Each door parses into
a call (below) that the shared sequence runs with the runtime."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.http.doors import Encoded, Incoming, parse_body
from switchboard.pipelines import jobs
from switchboard.pipelines.runner import resolve_inputs
from switchboard.wiring import Runtime


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: dict[str, Any] = {}
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None


def _body(body: bytes) -> PipelineRequest:
    return parse_body(PipelineRequest, body or b"{}")


@dataclass(frozen=True, slots=True)
class ListPipelines:
    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
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

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        return await runtime.pipelines.run(self.name, self.inputs, run_id=ctx.id, timeout_s=self.timeout_s,
                                           trace=ctx.trace, caller=ctx.caller)


def _store(runtime: Runtime) -> jobs.JobStore:
    if runtime.jobs is None:
        raise jobs.JobsUnavailable("set REDIS_URL and run `switchboard worker`")
    store: jobs.JobStore = runtime.jobs
    return store


@dataclass(frozen=True, slots=True)
class SubmitJob:
    name: str
    inputs: dict[str, Any]
    idempotency_key: str | None

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        """Checked like a run (tier, every step's models), counted as a request against the key's limits,
        holding the run's worst-case tokens and cost until the worker takes the job; owned by the tenant."""
        pipeline = await runtime.pipelines.check(self.name, ctx.caller)
        inputs = resolve_inputs(self.name, pipeline, self.inputs)
        store = _store(runtime)
        owner = jobs.Owner.of(ctx.caller)
        replayed = await store.guarded(store.replay(owner, self.name, inputs, self.idempotency_key))
        if replayed is not None:
            return replayed, False
        tokens, cost = runtime.pipelines.worst_case(self.name, inputs)
        held = await runtime.flow.hold(ctx, tokens, cost)
        hold = {"tokens": tokens, "cost_usd": cost} if held is not None else None
        job, created = await store.guarded(store.create(owner, self.name, inputs, self.idempotency_key, hold))
        if not created:
            await runtime.flow.release(ctx, held)  # another submission with this key won the race
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

    steps: bool = False  # GET /jobs/{id}/steps: the steps finished so far

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        """The job, for a key of the tenant that submitted it (or the admin key); a 404 for anyone else, the
        same as for no job at all, so another tenant learns nothing."""
        store = _store(runtime)
        job = await store.guarded(store.owned(self.job_id, ctx.caller))
        if job is None:
            raise GatewayError(404, "unknown_job", f"no job '{self.job_id[:64]}'", field="job_id")
        if self.steps:
            finished = await store.guarded(store.steps(self.job_id).all())
            return {"id": job["id"], "status": job["status"],
                    "steps": {name: response.model_dump(mode="json") for name, response in finished.items()}}
        return jobs.public_view(job)


class _Native:
    name = "pipelines"



class ListPipelinesDoor(_Native):
    def parse(self, body: bytes, incoming: Incoming) -> ListPipelines:
        return ListPipelines()

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, orjson.dumps(result)


class RunPipelineDoor(_Native):
    def parse(self, body: bytes, incoming: Incoming) -> RunPipeline:
        parsed = _body(body)
        return RunPipeline(incoming.path_params["name"], parsed.inputs, parsed.timeout_s)

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, result.model_dump_json().encode()


class SubmitJobDoor(_Native):
    def parse(self, body: bytes, incoming: Incoming) -> SubmitJob:
        key = incoming.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= 255:
            raise GatewayError(400, "invalid_request", "Idempotency-Key: 1 to 255 characters", field="Idempotency-Key")
        return SubmitJob(incoming.path_params["name"], _body(body).inputs, key)

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        job, created = result
        headers = {"location": f"/jobs/{job['id']}"}
        if not created:
            headers["idempotent-replayed"] = "true"
        return 202, headers, orjson.dumps(jobs.public_view(job))


class GetJobDoor(_Native):
    def __init__(self, steps: bool = False) -> None:
        self.steps = steps

    def parse(self, body: bytes, incoming: Incoming) -> GetJob:
        return GetJob(incoming.path_params["job_id"], self.steps)

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, orjson.dumps(result)
