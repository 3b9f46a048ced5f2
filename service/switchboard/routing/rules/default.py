"""The default route: whatever no earlier rule took."""

from __future__ import annotations

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request
from switchboard.routing.plan import decided, plan_template
from switchboard.routing.rules import Services

NAME = "default"


class DefaultRule:
    name = NAME

    def __init__(self, config: GatewayConfig) -> None:
        self._plan = plan_template(config, config.default_route.targets, "default", config.default_route)

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None:
        if facts.unsure:
            why = "default route"
        elif facts.classifier_ms is not None:
            why = "no task type inferred: default route"
        else:
            why = "no task_type: default route"
        return decided(self._plan, NAME, why, facts, ctx.caller.tier, "default")


def build(config: GatewayConfig, services: Services) -> DefaultRule:
    return DefaultRule(config)
