"""The router decides: it runs the configured rules in order until one returns a Plan. It never touches HTTP
and never calls a provider, so `decide` is also the dry run behind `POST /decide`."""

from __future__ import annotations

import time
from dataclasses import replace

from switchboard.config import GatewayConfig
from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import RouteRefused
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.core.target import TargetRef
from switchboard.routing.plan import bare_names, decided, plan_template
from switchboard.routing.rules import Rule, Services, load


class Router:
    def __init__(self, config: GatewayConfig, services: Services | None = None) -> None:
        services = services or Services()
        self.rules: list[Rule] = [load(name, config, services) for name in config.routing.rules]
        self.task_types = sorted(set(config.routes) | {n for tier in config.tiers.values() for n in tier.routes})
        self.pinnable = [f"{p}/{m}" for p, spec in config.providers.items()
                         for m, model in spec.models.items() if not model.embedding]
        self.bare = bare_names(self.pinnable)  # bare model name -> provider/model
        self.embedding_models = sorted(config.embedding_routes)
        self._embeddings = {name: plan_template(config, route.targets, f"embeddings:{name}")
                            for name, route in config.embedding_routes.items()}
        self._embedding_pins = {f"{p}/{m}": plan_template(config, [TargetRef(provider=p, model=m)],
                                                          f"embeddings:{p}/{m}")
                                for p, spec in config.providers.items()
                                for m, model in spec.models.items() if model.embedding}
        self.pinnable_embeddings = list(self._embedding_pins)

    async def decide(self, ctx: RequestContext, request: Request) -> Plan:
        started = time.perf_counter()
        decided_at_ns = time.time_ns()
        facts = Facts()
        if request.task_type is not None:
            if request.task_type not in self.task_types:
                raise RouteRefused("unknown_task_type", f"unknown task_type '{request.task_type}'; known: "
                                   f"{', '.join(self.task_types)}", "task_type")
            facts.task_type, facts.task_type_given = request.task_type, True
        for rule in self.rules:
            plan = await rule.decide(ctx, request, facts)
            if plan is not None:
                if ctx.caller.allowed is not None and not ctx.caller.admin:
                    plan = allowed_only(plan, ctx.caller)
                return replace(plan, decided_at_ns=decided_at_ns,
                               decide_ms=(time.perf_counter() - started) * 1000)
        raise AssertionError("the default rule always answers")

    def embedding_plan(self, ctx: RequestContext, request: EmbeddingRequest) -> Plan:
        template = self._embeddings.get(request.model)
        why = f"embedding route {request.model}"
        if template is None:
            template = self._embedding_pins.get(request.model)
            why = f"pinned by model {request.model}"
            if template is None:
                known = ", ".join([*self._embeddings, *self._embedding_pins]) or "none"
                raise RouteRefused("model_not_found", f"unknown embedding model '{request.model}' (known: {known})",
                                   "model")
            if not ctx.caller.may_pin(request.model):
                raise RouteRefused("model_not_allowed", f"model '{request.model}': this API key may not pin it",
                                   "model")
        plan = decided(template, "embeddings", why, Facts(), ctx.caller.tier)
        if ctx.caller.allowed is not None and not ctx.caller.admin:
            plan = allowed_only(plan, ctx.caller)
        return plan


def allowed_only(plan: Plan, caller: Caller) -> Plan:
    """The plan's targets the caller may use (its key's models, within its tier's): a chain the allow-list
    shortens says so in its reason; one it empties is refused (403), naming the models it would have needed."""
    kept = tuple(t for t in plan.targets if caller.may_use(f"{t.provider}/{t.model}"))
    if len(kept) == len(plan.targets):
        return plan
    if not kept:
        needed = ", ".join(f"{t.provider}/{t.model}" for t in plan.targets)
        raise RouteRefused("model_not_allowed", f"this API key may not use any model of its route ({needed}); "
                           f"it may use: {', '.join(sorted(caller.allowed or ())) or 'none'}", "model")
    return replace(plan, targets=kept, reason=f"{plan.reason} (limited to the models this key may use: "
                                             f"{' > '.join(t.key for t in kept)})")
