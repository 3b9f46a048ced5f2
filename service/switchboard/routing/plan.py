"""A Plan: the ordered targets for one request, the rule that chose them and why, and their settings."""

from __future__ import annotations

from dataclasses import replace

from switchboard.config import GatewayConfig, RouteConfig
from switchboard.core.plan import CachePolicy, Facts, Plan
from switchboard.core.response import Decision
from switchboard.core.target import TargetRef


def plan_template(config: GatewayConfig, targets: list[TargetRef] | tuple[TargetRef, ...], label: str,
                  route: RouteConfig | None = None) -> Plan:
    """A route's plan without its decision: rules fill `reason` and `decision` per request (`decided`)."""
    timeouts = config.timeouts
    cache = route.cache.apply(config.cache) if route is not None and route.cache is not None else config.cache
    policy = CachePolicy(exact=cache.exact.enabled, exact_ttl_s=cache.exact.ttl_s, semantic=cache.semantic.enabled,
                         semantic_threshold=cache.semantic.threshold, semantic_ttl_s=cache.semantic.ttl_s,
                         sampled=cache.sampled)
    return Plan(
        targets=tuple(targets),
        reason="",
        label=label,
        decision=Decision(rule=""),
        first_token_s=(route.first_token_s if route else None) or timeouts.first_token_s,
        stall_s=(route.stall_s if route else None) or timeouts.stall_s,
        cache=policy,
        hedge_after_s=route.hedge_after_s if route else None,
    )


def decided(template: Plan, rule: str, why: str, facts: Facts, tier: str | None = None,
            signal: str | None = None) -> Plan:
    """The template with the rule's decision: `why` begins the reason, the chain ends it; `signal` is what the
    rule matched on."""
    decision = Decision(rule=rule, task_type=facts.task_type, complexity=facts.complexity,  # type: ignore[arg-type]
                        score=facts.score, confidence=facts.confidence,
                        complexity_confidence=facts.complexity_confidence, threshold=facts.threshold,
                        classifier_ms=facts.classifier_ms,
                        tier=tier, signal=signal)
    notes = "".join(f" ({note})" for note in facts.notes)
    return replace(template, reason=f"{why}{notes}: {template.chain}", decision=decision)


def bare_names(pinned: list[str]) -> dict[str, str]:
    """A model name only one provider lists may be given bare (`claude-haiku-4-5`), as native clients do:
    bare name -> provider/model."""
    owners: dict[str, list[str]] = {}
    for name in pinned:
        owners.setdefault(name.split("/", 1)[1], []).append(name)
    return {model: names[0] for model, names in owners.items() if len(names) == 1}
