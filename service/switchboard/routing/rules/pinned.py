"""`model: provider/model` pins one target (still with retries); the caller's key must list it.

Also reads the other values of `model`: `auto` (no preference) and a task type's name (that task type)."""

from __future__ import annotations

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.errors import RouteRefused
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request
from switchboard.core.target import TargetRef
from switchboard.routing.plan import bare_names, decided, plan_template
from switchboard.routing.rules import Services

NAME = "pinned"


class PinnedRule:
    name = NAME

    def __init__(self, config: GatewayConfig) -> None:
        self._task_types = set(config.routes)
        self._plans = {
            f"{provider}/{model}": plan_template(config, [TargetRef(provider=provider, model=model)],
                                                 f"pinned:{provider}/{model}")
            for provider, settings in config.providers.items()
            for model, spec in settings.models.items() if not spec.embedding
        }

        self._bare = bare_names(list(self._plans))

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None:
        model = request.model
        if model is None or model == "auto":
            return None
        if model in self._task_types:
            if not facts.task_type_given:
                facts.task_type, facts.task_type_given = model, True
            return None
        model = self._bare.get(model, model)
        template = self._plans.get(model)
        if template is None:
            raise RouteRefused("model_not_found", f"unknown model '{model}': use 'auto', a task type, or "
                               "provider/model (see /v1/models)", "model")
        if not ctx.caller.may_pin(model):
            raise RouteRefused("model_not_allowed", f"model '{model}': this API key may not pin it "
                               "(keys list the models they may pin: keys create --models)", "model")
        return decided(template, NAME, f"pinned by model {model}", facts, ctx.caller.tier, "model")


def build(config: GatewayConfig, services: Services) -> PinnedRule:
    return PinnedRule(config)
