"""An operator's hold on a target: drained (out of rotation), or its breaker forced open or closed.

The engine asks `Holds.of(target)` before each target, from a snapshot in process memory (never a round trip);
`operations.holds` keeps that snapshot, shared through Redis so that every replica obeys the same holds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from switchboard.core.target import TargetRef

Action = Literal["drain", "force_open", "force_closed"]


@dataclass(frozen=True, slots=True)
class Hold:
    scope: str  # a provider (`openai`: every model of it) or one target (`openai:gpt-5.4`)
    action: Action
    reason: str
    by: str  # who asked (the operator's name as the CLI sends it, else the key id)
    since: float  # epoch seconds
    until: float | None = None  # epoch seconds; None: until restored

    def active(self, now: float | None = None) -> bool:
        return self.until is None or (time.time() if now is None else now) < self.until

    def describe(self) -> str:
        """What an attempt's detail says of it: the verb, who, why and until when."""
        verb = {"drain": "drained", "force_open": "breaker forced open",
                "force_closed": "breaker forced closed"}[self.action]
        until = f" until {_iso(self.until)}" if self.until is not None else ""
        return f"{verb} by {self.by}{until}: {self.reason}"

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = _iso(self.since)
        data["until"] = _iso(self.until) if self.until is not None else None
        return data


class Holds(Protocol):
    """The holds in force, read from memory (the engine asks once per target of a chain)."""

    def of(self, target: TargetRef) -> Hold | None: ...


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
