"""The router decides: request -> Plan (ordered targets and the reason). It never touches HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.config import GatewayConfig, TargetRef


@dataclass(frozen=True, slots=True)
class Plan:
    task_type: str | None
    reason: str
    targets: tuple[TargetRef, ...]


class UnknownTaskType(ValueError):
    def __init__(self, task_type: str, known: list[str]) -> None:
        super().__init__(f"unknown task_type '{task_type}'; known: {', '.join(known)}")
        self.task_type = task_type
        self.known = known


class Router:
    def __init__(self, config: GatewayConfig) -> None:
        self._plans = {
            name: Plan(name, f"task_type {name}: {_describe(chain)}", tuple(chain))
            for name, chain in config.routes.items()
        }
        self._default = Plan(None, f"no task_type: default route {_describe(config.default_route)}",
                             tuple(config.default_route))
        self.task_types = sorted(self._plans)

    def plan(self, task_type: str | None) -> Plan:
        if task_type is None:
            return self._default
        plan = self._plans.get(task_type)
        if plan is None:
            raise UnknownTaskType(task_type, self.task_types)
        return plan


def _describe(chain: list[TargetRef]) -> str:
    return " > ".join(target.key for target in chain)
