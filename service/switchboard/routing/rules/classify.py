"""When the caller names no task type, the classifier infers one, and the prompt's complexity.

It never chooses a chain itself: it adds task type, complexity, score and both confidences to the facts the
later rules match on. Each signal stands on its own: below `routing.classifier.min_confidence` the task type
is left out, below `min_complexity_confidence` the complexity is; the tier rule still matches a confident
complexity when the task type is unsure, and a request unsure of both takes its tier's default chain (or the
global default), the reason saying why.

With the strong-share dial on (`routing.classifier.strong_share`), the threshold is the dial's and every
classified request gets its complexity label: the dial decides the share, so no label is held back as unsure."""

from __future__ import annotations

import time

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request
from switchboard.routing.dial import StrongShareDial
from switchboard.routing.rules import Services

NAME = "classify"


class ClassifyRule:
    name = NAME

    def __init__(self, config: GatewayConfig, classifier: object | None, dial: StrongShareDial | None) -> None:
        settings = config.routing.classifier
        self._dial = dial if dial is not None and settings.strong_share is not None else None
        self._classifier = classifier if settings.enabled else None
        self._min_confidence = settings.min_confidence
        self._min_complexity_confidence = settings.min_complexity_confidence
        self._threshold = settings.complex_threshold
        self._known = set(config.routes) | {name for tier in config.tiers.values() for name in tier.routes}

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None:
        if self._classifier is None or facts.task_type_given:
            return None
        text = request.last_user_text()
        if not text:
            return None
        started = time.perf_counter()
        dial = self._dial
        threshold = dial.threshold if dial is not None else self._threshold
        result = self._classifier.classify(text, threshold)  # type: ignore[attr-defined]
        facts.classifier_ms = round((time.perf_counter() - started) * 1000, 3)
        facts.threshold = round(threshold, 4)
        if dial is not None:
            dial.observe(result.score)
        facts.confidence = round(result.confidence, 4)
        facts.score = round(result.score, 4)
        facts.complexity_confidence = round(result.complexity_confidence, 4)
        if dial is None and result.complexity_confidence < self._min_complexity_confidence:
            facts.complexity_unsure = True
            facts.notes.append(f"complexity unsure: confidence {result.complexity_confidence:.2f} < "
                               f"{self._min_complexity_confidence:.2f}")
        else:
            facts.complexity = result.complexity
        if result.confidence < self._min_confidence:
            facts.unsure = True
            facts.notes.append(f"classifier unsure: confidence {result.confidence:.2f} < {self._min_confidence:.2f}")
        elif result.task_type in self._known:
            facts.task_type = result.task_type
        return None


def build(config: GatewayConfig, services: Services) -> ClassifyRule:
    return ClassifyRule(config, services.classifier, services.dial)
