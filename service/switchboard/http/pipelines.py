"""Pipeline endpoints: list them, run one and wait, or submit a durable job and poll it."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from switchboard.engine.context import RequestContext
from switchboard.errors import GatewayError
from switchboard.http.doors import Encoded, Incoming, native_error, parse_body
from switchboard.pipelines import jobs
from switchboard.pipelines.calls import GetJob, ListPipelines, RunPipeline, SubmitJob


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: dict[str, Any] = {}
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None


def _body(body: bytes) -> PipelineRequest:
    return parse_body(PipelineRequest, body or b"{}")


class _Native:
    name = "pipelines"

    def error(self, ctx: RequestContext, error: GatewayError) -> Encoded:
        return native_error(ctx, error)


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
    def parse(self, body: bytes, incoming: Incoming) -> GetJob:
        return GetJob(incoming.path_params["job_id"])

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return 200, {}, orjson.dumps(jobs.public_view(result))
