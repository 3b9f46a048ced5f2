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
        self._routes = {name: tuple(chain) for name, chain in config.routes.items()}
        self._default = tuple(config.default_route)
        self.task_types = sorted(self._routes)

    def plan(self, task_type: str | None) -> Plan:
        if task_type is None:
            return Plan(None, "no task_type: default route", self._default)
        chain = self._routes.get(task_type)
        if chain is None:
            raise UnknownTaskType(task_type, self.task_types)
        return Plan(task_type, f"task_type {task_type}: route {task_type}", chain)
