"""What each target can serve, and whether it can serve a given request (the capability check)."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.config import GatewayConfig
from switchboard.core.capability import Capability
from switchboard.core.request import Request
from switchboard.core.target import TargetRef

CONTEXT_WINDOW = "context_window"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    capabilities: frozenset[Capability]
    droppable: frozenset[Capability]  # parameters it may drop, by config
    context_window: int | None
    max_output_tokens: int | None


@dataclass(frozen=True, slots=True)
class Fit:
    """A request against one target: what it lacks (skip), and what it may drop instead."""

    missing: tuple[str, ...]
    drop: frozenset[Capability]


class Targets:
    def __init__(self, config: GatewayConfig) -> None:
        self._specs: dict[str, TargetSpec] = {}
        for name, provider in config.providers.items():
            for model, settings in provider.models.items():
                self._specs[f"{name}:{model}"] = TargetSpec(
                    capabilities=provider.capabilities(model),
                    droppable=frozenset(provider.drop),
                    context_window=settings.context_window,
                    max_output_tokens=settings.max_output_tokens,
                )

    def spec(self, target: TargetRef) -> TargetSpec:
        return self._specs[target.key]

    def fit(self, target: TargetRef, request: Request, needs: frozenset[Capability], max_tokens: int) -> Fit:
        spec = self._specs[target.key]
        lacking = needs - spec.capabilities
        drop = lacking & spec.droppable
        missing = sorted(str(capability) for capability in lacking - drop)
        if spec.context_window is not None and \
                request.estimated_input_tokens() + min(max_tokens, spec.max_output_tokens or max_tokens) > \
                spec.context_window:
            missing.append(CONTEXT_WINDOW)
        return Fit(tuple(missing), drop)
