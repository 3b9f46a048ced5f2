"""Routes (task type -> failover chain), tiers, embedding routes and the routing rules' settings."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Literal

from pydantic import Field, model_validator

from switchboard.config.base import Chain, Name, PositiveFloat, Strict
from switchboard.config.cache import CacheOverride

Complexity = Literal["simple", "complex"]
RULES = ("pinned", "pipeline_step", "classify", "tier", "task_type", "default")


class RouteConfig(Strict):
    """A failover chain and its own settings. A bare list is just the chain."""

    targets: Chain
    first_token_s: PositiveFloat | None = None
    stall_s: PositiveFloat | None = None
    hedge_after_s: PositiveFloat | None = None  # no first token from a target by then: start the next too
    cache: CacheOverride | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object) -> object:
        return {"targets": value} if isinstance(value, list) else value


class TierConfig(Strict):
    """Chains for the callers of one tier. Looked up in this order: `routes[task type]`, then
    `complexity[simple|complex]`, then `default_route`; when none applies the task-type routes decide."""

    routes: dict[str, RouteConfig] = {}
    complexity: dict[Complexity, RouteConfig] = {}
    default_route: RouteConfig | None = None
    # provider/model its callers' requests may reach (pins, routes, pipeline steps, embeddings); None: any.
    models: list[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]] | None = None
    max_in_flight: Annotated[int, Field(ge=1)] | None = None  # per caller key, per replica (a key's own wins)


class ClassifierConfig(Strict):
    enabled: bool = True
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5  # task type below it: not used, the reason says so
    # complexity confidence (0.5 at the threshold, 1 far from it) below it: the complexity is not used either
    min_complexity_confidence: Annotated[float, Field(ge=0.5, le=1)] = 0.6
    complex_threshold: Annotated[float, Field(ge=0, le=1)] = 0.5  # a score at or above it is `complex`
    # The cost-quality dial: the share of classified requests to label complex (the strong chains). Set, the
    # threshold follows the (1 - share) quantile of recent scores instead of `complex_threshold`.
    strong_share: Annotated[float, Field(ge=0, le=1)] | None = None
    model: str | None = None  # a classifier artifact; the shipped one by default


class RoutingConfig(Strict):
    rules: list[Name] = list(RULES)  # module names under switchboard/routing/rules/, run in this order
    classifier: ClassifierConfig = ClassifierConfig()

    @model_validator(mode="after")
    def _known_rules(self) -> RoutingConfig:
        for index, rule in enumerate(self.rules):
            if not resources.files("switchboard.routing").joinpath("rules", f"{rule}.py").is_file():
                raise ValueError(f"rules[{index}]: no rule '{rule}' (a module in switchboard/routing/rules/)")
        if not self.rules or self.rules[-1] != "default":
            raise ValueError("rules: must end with 'default'")
        if len(set(self.rules)) != len(self.rules):
            raise ValueError("rules: a rule is listed twice")
        return self


class EmbeddingRouteConfig(Strict):
    """Targets that serve one embedding model: vectors from different models are not interchangeable."""

    targets: Chain

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object) -> object:
        return {"targets": value} if isinstance(value, list) else value

