"""The task type (given by the caller, or inferred by the classifier) picks its route."""

from __future__ import annotations

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request
from switchboard.routing.plan import decided, plan_template
from switchboard.routing.rules import Services

NAME = "task_type"


class TaskTypeRule:
    name = NAME

    def __init__(self, config: GatewayConfig) -> None:
        self._plans = {name: plan_template(config, route.targets, name, route) for name, route in config.routes.items()}

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None:
        template = self._plans.get(facts.task_type) if facts.task_type is not None else None
        if template is None:
            return None
        if facts.task_type_given:
            why = f"task_type {facts.task_type}"
        else:
            why = f"task_type {facts.task_type} inferred (confidence {facts.confidence:.2f})"
        return decided(template, NAME, why, facts, ctx.caller.tier, "task_type")


def build(config: GatewayConfig, services: Services) -> TaskTypeRule:
    return TaskTypeRule(config)
