"""A Plan: the ordered targets for one request, the rule that chose them and why, and their settings; and the
`Facts` the rules gather while they decide."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard.core.response import Decision
from switchboard.core.target import TargetRef, describe_chain


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """What the response cache may do for a plan's requests (the route's `cache:` over the top-level one)."""

    exact: bool = False
    exact_ttl_s: float = 3600.0
    semantic: bool = False
    semantic_threshold: float | None = None  # None: the calibrated default
    semantic_ttl_s: float = 3600.0
    sampled: bool = False  # also for sampled requests (temperature > 0 or unset)

    @property
    def any(self) -> bool:
        return self.exact or self.semantic


@dataclass(frozen=True, slots=True)
class Plan:
    targets: tuple[TargetRef, ...]
    reason: str
    label: str  # the route's name in metrics and logs: bounded by the config
    decision: Decision
    first_token_s: float
    stall_s: float
    cache: CachePolicy
    hedge_after_s: float | None = None
    embedding: bool = False
    decided_at_ns: int = 0  # when the decision started (wall clock, for its span) ...
    decide_ms: float | None = None  # ... and how long it took

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
    confidence: float | None = None  # the classifier's confidence in its task type
    complexity_confidence: float | None = None  # ... and in its complexity label
    classifier_ms: float | None = None
    threshold: float | None = None  # the complexity threshold the classifier used (the dial's, when it is on)
    unsure: bool = False  # the task-type confidence was below the configured minimum
    complexity_unsure: bool = False  # the complexity confidence was below its minimum
    notes: list[str] = field(default_factory=list)
