"""The router decides: request -> Plan (ordered targets and the reason). It never touches HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.config import GatewayConfig, PipelineStep, RouteConfig, TargetRef, TimeoutConfig


@dataclass(frozen=True, slots=True)
class Plan:
    task_type: str | None
    reason: str
    targets: tuple[TargetRef, ...]
    first_token_s: float
    stall_s: float
    label: str  # the route's name in metrics and logs: bounded by the config


class UnknownTaskType(ValueError):
    def __init__(self, task_type: str, known: list[str]) -> None:
        super().__init__(f"unknown task_type '{task_type}'; known: {', '.join(known)}")
        self.task_type = task_type
        self.known = known


class UnknownModel(ValueError):
    def __init__(self, model: str) -> None:
        super().__init__(f"unknown model '{model}': use 'auto', a task type, or provider/model (see /v1/models)")
        self.model = model


class Router:
    def __init__(self, config: GatewayConfig) -> None:
        self._timeouts = config.timeouts
        self._plans = {
            name: _plan(name, f"task_type {name}: {_describe(route.targets)}", route, config.timeouts, name)
            for name, route in config.routes.items()
        }
        route = config.default_route
        self._default = _plan(None, f"no task_type: default route {_describe(route.targets)}", route,
                              config.timeouts, "default")
        self.task_types = sorted(self._plans)
        self._steps = {
            (name, step.name): _plan(
                None, f"pipeline {name} step {step.name}: {_describe(step.targets)}", step, config.timeouts,
                f"pipeline:{name}.{step.name}",
            )
            for name, pipeline in config.pipelines.items()
            for step in pipeline.steps
        }
        self.pinnable = {
            f"{provider}/{model}": TargetRef(provider=provider, model=model)
            for provider, settings in config.providers.items()
            for model in settings.models
        }

    def plan(self, task_type: str | None) -> Plan:
        if task_type is None:
            return self._default
        plan = self._plans.get(task_type)
        if plan is None:
            raise UnknownTaskType(task_type, self.task_types)
        return plan

    def plan_for_model(self, model: str) -> Plan:
        """The OpenAI-compatible `model` field: `auto`, a task type, or `provider/model` pinned."""
        if model == "auto":
            return self._default
        if model in self._plans:
            return self._plans[model]
        target = self.pinnable.get(model)
        if target is None:
            raise UnknownModel(model)
        return Plan(None, f"pinned by model {model}", (target,), self._timeouts.first_token_s,
                    self._timeouts.stall_s, f"pinned:{model}")


    def plan_for_step(self, pipeline: str, step: str) -> Plan:
        return self._steps[(pipeline, step)]


def _plan(
    task_type: str | None, reason: str, route: RouteConfig | PipelineStep, timeouts: TimeoutConfig, label: str
) -> Plan:
    first_token_s = route.first_token_s if isinstance(route, RouteConfig) else None
    stall_s = route.stall_s if isinstance(route, RouteConfig) else None
    return Plan(
        task_type,
        reason,
        tuple(route.targets),
        first_token_s or timeouts.first_token_s,
        stall_s or timeouts.stall_s,
        label,
    )


def _describe(chain: list[TargetRef]) -> str:
    return " > ".join(target.key for target in chain)
