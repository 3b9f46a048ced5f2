"""A Plan: the ordered targets for one request, the rule that chose them and why, and their settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from switchboard.config import CacheConfig, GatewayConfig, RouteConfig, TargetRef, describe_chain
from switchboard.schema import Decision


@dataclass(frozen=True, slots=True)
class Plan:
    targets: tuple[TargetRef, ...]
    reason: str
    label: str  # the route's name in metrics and logs: bounded by the config
    decision: Decision
    first_token_s: float
    stall_s: float
    cache: CacheConfig
    hedge_after_s: float | None = None
    embedding: bool = False

    @property
    def task_type(self) -> str | None:
        return self.decision.task_type

    @property
    def chain(self) -> str:
        return describe_chain(self.targets)


@dataclass(slots=True)
class Facts:
    """What the rules know about a request while they decide; each rule may add to it."""

    task_type: str | None = None
    task_type_given: bool = False  # the caller named it (it always wins over the classifier)
    complexity: str | None = None
    score: float | None = None
    confidence: float | None = None
    classifier_ms: float | None = None
    unsure: bool = False  # the classifier's confidence was below the configured minimum
    notes: list[str] = field(default_factory=list)


def plan_template(config: GatewayConfig, targets: list[TargetRef] | tuple[TargetRef, ...], label: str,
                  route: RouteConfig | None = None) -> Plan:
    """A route's plan without its decision: rules fill `reason` and `decision` per request (`decided`)."""
    timeouts = config.timeouts
    cache = route.cache.apply(config.cache) if route is not None and route.cache is not None else config.cache
    return Plan(
        targets=tuple(targets),
        reason="",
        label=label,
        decision=Decision(rule=""),
        first_token_s=(route.first_token_s if route else None) or timeouts.first_token_s,
        stall_s=(route.stall_s if route else None) or timeouts.stall_s,
        cache=cache,
        hedge_after_s=route.hedge_after_s if route else None,
    )


def decided(template: Plan, rule: str, why: str, facts: Facts, tier: str | None = None) -> Plan:
    """The template with the rule's decision: `why` begins the reason, the chain ends it."""
    decision = Decision(rule=rule, task_type=facts.task_type, complexity=facts.complexity,  # type: ignore[arg-type]
                        score=facts.score, confidence=facts.confidence, classifier_ms=facts.classifier_ms, tier=tier)
    notes = "".join(f" ({note})" for note in facts.notes)
    return replace(template, reason=f"{why}{notes}: {template.chain}", decision=decision)


def bare_names(pinned: list[str]) -> dict[str, str]:
    """A model name only one provider lists may be given bare (`claude-haiku-4-5`), as native clients do:
    bare name -> provider/model."""
    owners: dict[str, list[str]] = {}
    for name in pinned:
        owners.setdefault(name.split("/", 1)[1], []).append(name)
    return {model: names[0] for model, names in owners.items() if len(names) == 1}
