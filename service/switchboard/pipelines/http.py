"""Pipeline endpoints: run and wait, or submit a durable job and poll it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.api_common import (
    ClientGone,
    error_response,
    json_response,
    read_json_object,
    unless_disconnected,
)
from switchboard.errors import GatewayError, invalid_request
from switchboard.gateway import Switchboard
from switchboard.logs import log
from switchboard.pipelines import jobs
from switchboard.pipelines.runner import resolve_inputs
from switchboard.telemetry import tracing


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: dict[str, Any] = {}
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None


async def _read(request: Request) -> PipelineRequest:
    try:
        return PipelineRequest.model_validate(await read_json_object(request))
    except ValidationError as error:
        raise invalid_request(error) from None


def pipeline_routes(switchboard: Switchboard, redis_url: str | None) -> APIRouter:
    router = APIRouter()
    store = jobs.JobStore(aioredis.from_url(redis_url)) if redis_url else None

    def job_store() -> jobs.JobStore:
        if store is None:
            raise GatewayError(503, "jobs_unavailable",
                               "durable jobs need Redis: set REDIS_URL and run `switchboard worker`")
        return store

    @router.get("/pipelines")
    async def list_pipelines() -> Response:
        return json_response({
            name: {"description": p.description, "steps": [s.name for s in p.steps],
                   "inputs": {k: {"required": v.default is None, "default": v.default, "description": v.description}
                              for k, v in p.inputs.items()}}
            for name, p in switchboard.config.pipelines.items()
        })

    @router.post("/pipelines/{name}")
    async def run_pipeline(name: str, request: Request) -> Response:
        request_id = request.state.request_id
        try:
            body = await _read(request)
            result = await unless_disconnected(request, switchboard.pipelines.run(
                name, body.inputs, run_id=request_id, timeout_s=body.timeout_s, trace=tracing.extract(request.headers)))
        except GatewayError as error:
            return error_response(error, request_id)
        except ClientGone:
            return Response(status_code=499)
        return Response(result.model_dump_json(), media_type="application/json")

    @router.post("/pipelines/{name}/jobs")
    async def submit_job(name: str, request: Request) -> Response:
        request_id = request.state.request_id
        key = request.headers.get("idempotency-key")
        try:
            if key is not None and not 0 < len(key) <= 255:
                raise GatewayError(400, "invalid_request", "Idempotency-Key: 1 to 255 characters",
                                   field="Idempotency-Key")
            body = await _read(request)
            pipeline = switchboard.pipelines.get(name)
            inputs = resolve_inputs(name, pipeline, body.inputs)
            job, created = await job_store().create(name, inputs, key)
            if created:
                assert redis_url is not None
                queue = jobs.celery_app(redis_url)
                await asyncio.to_thread(queue.send_task, jobs.TASK, args=[job["id"]], queue=jobs.QUEUE)
        except GatewayError as error:
            return error_response(error, request_id)
        log.info("job_submitted", request_id=request_id, job_id=job["id"], pipeline=name, created=created)
        headers = {"location": f"/jobs/{job['id']}"}
        if not created:
            headers["idempotent-replayed"] = "true"
        return json_response(jobs.public_view(job), 202, headers)

    @router.get("/jobs/{job_id}")
    async def get_job(job_id: str, request: Request) -> Response:
        try:
            job = await job_store().get(job_id) if len(job_id) <= 64 else None
            if job is None:
                raise GatewayError(404, "unknown_job", f"no job '{job_id[:64]}'", field="job_id")
        except GatewayError as error:
            return error_response(error, request.state.request_id)
        return json_response(jobs.public_view(job))

    return router
