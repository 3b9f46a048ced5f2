"""A pipeline's step runs on the chain its config gives it."""

from __future__ import annotations

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request
from switchboard.routing.plan import decided, plan_template
from switchboard.routing.rules import Services

NAME = "pipeline_step"


class PipelineStepRule:
    name = NAME

    def __init__(self, config: GatewayConfig) -> None:
        self._plans = {(name, step.name): plan_template(config, step.targets, f"pipeline:{name}.{step.name}")
                       for name, pipeline in config.pipelines.items() for step in pipeline.steps}

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None:
        if request.pipeline_step is None:
            return None
        name, step = request.pipeline_step
        return decided(self._plans[(name, step)], NAME, f"pipeline {name} step {step}", facts, ctx.caller.tier,
                       "pipeline_step")


def build(config: GatewayConfig, services: Services) -> PipelineStepRule:
    return PipelineStepRule(config)
