"""The caller's tier picks a chain: `tiers.<tier>.routes[task type]`, then `complexity[...]`, then the
tier's `default_route`; a tier with none of these defers to the task-type routes. The complexity matches
whenever the classifier was confident of it, whatever its confidence in the task type."""

from __future__ import annotations

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request
from switchboard.routing.plan import decided, plan_template
from switchboard.routing.rules import Services

NAME = "tier"


class TierRule:
    name = NAME

    def __init__(self, config: GatewayConfig) -> None:
        self._routes = {(tier, name): plan_template(config, route.targets, f"tier:{tier}:{name}", route)
                        for tier, spec in config.tiers.items() for name, route in spec.routes.items()}
        self._complexity = {(tier, level): plan_template(config, route.targets, f"tier:{tier}:{level}", route)
                            for tier, spec in config.tiers.items() for level, route in spec.complexity.items()}
        self._defaults = {tier: plan_template(config, spec.default_route.targets, f"tier:{tier}:default",
                                              spec.default_route)
                          for tier, spec in config.tiers.items() if spec.default_route is not None}

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None:
        tier = ctx.caller.tier
        if tier is None:
            return None
        if facts.task_type is not None and (template := self._routes.get((tier, facts.task_type))):
            return decided(template, NAME, f"tier {tier}, task_type {facts.task_type}", facts, tier, "task_type")
        if facts.complexity is not None and (template := self._complexity.get((tier, facts.complexity))):
            return decided(template, NAME, f"tier {tier}, complexity {facts.complexity} (score {facts.score:.2f})",
                           facts, tier, "complexity")
        if (template := self._defaults.get(tier)) is not None:
            return decided(template, NAME, f"tier {tier}: its default route", facts, tier, "default")
        return None


def build(config: GatewayConfig, services: Services) -> TierRule:
    return TierRule(config)
