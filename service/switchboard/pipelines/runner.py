"""Run a declared pipeline: each step is a request through the same decide → engine flow (its own record).

Steps start as soon as the steps they refer to have finished, so independent steps run concurrently.
A `StepStore` keeps finished steps, so a re-run (a redelivered job) does not pay for them twice.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

from opentelemetry.context import Context

from switchboard.config import PLACEHOLDER, GatewayConfig, PipelineConfig, PipelineStep
from switchboard.core.caller import ANONYMOUS, Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.plan import Plan
from switchboard.core.request import Message, Request
from switchboard.core.response import CompletionResponse, PipelineResult, PipelineTotals, Usage
from switchboard.pricing import cost_usd
from switchboard.telemetry import tracing

MAX_INPUT_CHARS = 100_000
StepEvent = Literal["started", "progress", "finished", "reused"]
# (event, step, response) for started / finished / reused; (progress, step, tokens so far) while it runs.
Progress = Callable[[StepEvent, str, Any], Awaitable[None] | None]


class Completes(Protocol):
    """What a pipeline needs of the gateway (flow.Flow): one request to its whole answer, and the plan a
    request would get (to check every step before any runs)."""

    async def complete(self, ctx: RequestContext, request: Request) -> CompletionResponse: ...

    async def plan(self, ctx: RequestContext, request: Request) -> Plan: ...


class StepStore(Protocol):
    async def get(self, step: str) -> CompletionResponse | None: ...

    async def put(self, step: str, response: CompletionResponse) -> None: ...


def render(template: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
    """Substitute {inputs.X} and {steps.Y} once; text that came in is never re-read as a template."""
    spaces = {"inputs": inputs, "steps": outputs}
    return PLACEHOLDER.sub(lambda m: spaces[m.group(1)][m.group(2)], template)


def resolve_inputs(pipeline_name: str, pipeline: PipelineConfig, given: Mapping[str, Any]) -> dict[str, str]:
    """The inputs with defaults filled in, or a 422 `GatewayError` naming the input."""
    for name, value in given.items():
        if name not in pipeline.inputs:
            known = ", ".join(pipeline.inputs) or "none"
            raise GatewayError(422, "invalid_request", f"inputs.{name}: not an input of {pipeline_name} "
                               f"(its inputs: {known})", field=f"inputs.{name}")
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_INPUT_CHARS:
            raise GatewayError(422, "invalid_request", f"inputs.{name}: must be a non-empty string of at most "
                               f"{MAX_INPUT_CHARS} characters", field=f"inputs.{name}")
    resolved = {}
    for name, spec in pipeline.inputs.items():
        value = given.get(name, spec.default)
        if value is None:
            raise GatewayError(422, "invalid_request", f"inputs.{name}: required", field=f"inputs.{name}")
        resolved[name] = value
    return resolved


class PipelineRunner:
    def __init__(self, config: GatewayConfig, flow: Completes) -> None:
        self._config = config
        self._flow = flow
        self.pipelines = config.pipelines

    def get(self, name: str) -> PipelineConfig:
        pipeline = self.pipelines.get(name)
        if pipeline is None:
            raise GatewayError(404, "unknown_pipeline", f"unknown pipeline '{name}'; known: "
                               f"{', '.join(sorted(self.pipelines)) or 'none'}", field="pipeline")
        return pipeline

    async def check(self, name: str, caller: Caller) -> PipelineConfig:
        """The pipeline, if `caller` may run all of it: its tier among the pipeline's `tiers`, and every step's
        chain holding a model the caller may use. Else a 403 naming the tier, or the step and its models —
        before any step runs."""
        pipeline = self.get(name)
        if pipeline.tiers is not None and not caller.admin and caller.key_id is not None \
                and caller.tier not in pipeline.tiers:
            raise GatewayError(403, "forbidden", f"pipeline {name}: tier '{caller.tier}' may not run it (tiers: "
                               f"{', '.join(pipeline.tiers)})", field="pipeline")
        if caller.allowed is None or caller.admin:
            return pipeline
        for step in pipeline.steps:
            probe = Request(messages=[Message("user", "-")], pipeline_step=(name, step.name))
            try:
                await self._flow.plan(RequestContext(front_door="pipeline", caller=caller), probe)
            except GatewayError as error:
                raise GatewayError(error.status, error.code, f"pipeline {name}, step {step.name}: "
                                   f"{error.body.error.message}", field="model", step=step.name) from None
        return pipeline

    def worst_case(self, name: str, inputs: Mapping[str, str]) -> tuple[int, float]:
        """(tokens, USD): the most a run can use and cost, every step on its dearest target with its whole
        `max_tokens`, each input and earlier step's output counted at its upper bound."""
        pipeline = self.get(name)
        default = self._config.default_max_tokens
        given = sum(len(value.encode()) for value in inputs.values())
        out = {step.name: step.max_tokens or default for step in pipeline.steps}
        tokens, cost = 0, 0.0
        for step in pipeline.steps:
            # An earlier step's output, read by another tokenizer, may count up to twice its tokens.
            read = len(step.prompt.encode()) + len((step.system or "").encode()) + given + 16 + \
                sum(2 * out[dep] for dep in step.depends_on())
            usage = Usage(input_tokens=read, output_tokens=out[step.name])
            tokens += read + out[step.name]
            cost += max(cost_usd(self._config.price(t.provider, t.model), usage) for t in step.targets)
        return tokens, round(cost, 10)

    async def run(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        run_id: str,
        timeout_s: float | None = None,
        store: StepStore | None = None,
        progress: Progress | None = None,
        trace: Context | None = None,
        caller: Caller = ANONYMOUS,
    ) -> PipelineResult:
        pipeline = await self.check(name, caller)
        values = resolve_inputs(name, pipeline, inputs)
        if timeout_s is not None and timeout_s > self._config.timeouts.max_request_s:
            raise GatewayError(422, "invalid_request", f"timeout_s: at most {self._config.timeouts.max_request_s:g}",
                               field="timeout_s")
        span = tracing.start("switchboard.pipeline", trace, attributes={"switchboard.pipeline": name,
                                                                        "switchboard.run_id": run_id})
        try:
            result = await self._run(name, pipeline, values, run_id, timeout_s, store, progress,
                                     tracing.context_of(span, trace), caller)
        except GatewayError as error:
            tracing.end(span, error=error.body.error.code)
            raise
        tracing.end(span, {"switchboard.cost_usd": result.totals.cost_usd})
        return result

    async def _run(
        self,
        name: str,
        pipeline: PipelineConfig,
        values: dict[str, str],
        run_id: str,
        timeout_s: float | None,
        store: StepStore | None,
        progress: Progress | None,
        trace: Context | None,
        caller: Caller,
    ) -> PipelineResult:
        started = time.perf_counter()
        deadline = time.monotonic() + (timeout_s or self._config.timeouts.pipeline_s)
        done: dict[str, asyncio.Future[CompletionResponse]] = {
            step.name: asyncio.get_running_loop().create_future() for step in pipeline.steps
        }

        async def run_step(step: PipelineStep) -> None:
            try:
                outputs = {dep: (await asyncio.shield(done[dep])).text for dep in step.depends_on()}
                response = await self._step(name, step, values, outputs, run_id, deadline, store, progress, trace,
                                            caller)
            except BaseException as error:
                if not done[step.name].done():
                    if isinstance(error, asyncio.CancelledError):
                        done[step.name].cancel()
                    else:
                        done[step.name].set_exception(error)
                raise
            done[step.name].set_result(response)

        try:
            async with asyncio.TaskGroup() as group:
                for step in pipeline.steps:
                    group.create_task(run_step(step))
        except* GatewayError as failures:
            raise failures.exceptions[0] from None
        finally:
            for future in done.values():  # a dependency's failure was seen through its task already
                if future.done() and not future.cancelled():
                    future.exception()
        steps = {step_name: future.result() for step_name, future in done.items()}
        return PipelineResult(
            id=run_id,
            pipeline=name,
            output=steps[pipeline.output_step].text,
            steps=steps,
            totals=PipelineTotals(
                cost_usd=round(sum(r.cost_usd for r in steps.values()), 10),
                input_tokens=sum(r.usage.input_tokens for r in steps.values()),
                output_tokens=sum(r.usage.output_tokens for r in steps.values()),
                cached_tokens=sum(r.usage.cached_tokens for r in steps.values()),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            ),
        )

    async def _step(
        self,
        pipeline: str,
        step: PipelineStep,
        inputs: Mapping[str, str],
        outputs: Mapping[str, str],
        run_id: str,
        deadline: float,
        store: StepStore | None,
        progress: Progress | None,
        trace: Context | None,
        caller: Caller,
    ) -> CompletionResponse:
        if store is not None and (stored := await store.get(step.name)) is not None:
            await _notify(progress, "reused", step.name, stored)
            return stored
        await _notify(progress, "started", step.name, None)
        left = deadline - time.monotonic()
        if left <= 0:
            raise GatewayError(504, "deadline_exceeded", f"step {step.name}: no time left", step=step.name)
        messages = [Message("system", render(step.system, inputs, outputs))] if step.system else []
        messages.append(Message("user", render(step.prompt, inputs, outputs)))
        request = Request(
            messages=messages,
            max_tokens=step.max_tokens,
            temperature=step.temperature,
            timeout_s=min(left, self._config.timeouts.max_request_s),
            metadata={"pipeline": pipeline, "step": step.name, "run_id": run_id},
            pipeline_step=(pipeline, step.name),
        )
        span = tracing.start("switchboard.step", trace, attributes={"switchboard.step": step.name})
        ctx = RequestContext(id=f"{run_id}-{step.name}", front_door="pipeline", trace=tracing.context_of(span, trace),
                             caller=caller)
        if progress is not None:
            ctx.progress = lambda tokens: _notify_now(progress, step.name, tokens)
        try:
            response = await self._flow.complete(ctx, request)
        except GatewayError as error:
            tracing.end(span, error=error.body.error.code)
            detail = error.body.error
            raise GatewayError(error.status, detail.code, f"step {step.name}: {detail.message}",
                               step=step.name, route=error.body.route) from None
        tracing.end(span, {"switchboard.provider": response.provider, "switchboard.cost_usd": response.cost_usd})
        if store is not None:
            await store.put(step.name, response)
        await _notify(progress, "finished", step.name, response)
        return response


def _notify_now(progress: Progress, step: str, tokens: int) -> None:
    """Progress inside a step (tokens so far); a coroutine callback is not awaited here, only started."""
    result = progress("progress", step, tokens)
    if inspect.isawaitable(result):
        asyncio.ensure_future(result)


async def _notify(progress: Progress | None, event: StepEvent, step: str, response: CompletionResponse | None) -> None:
    if progress is not None:
        result = progress(event, step, response)
        if inspect.isawaitable(result):
            await result
