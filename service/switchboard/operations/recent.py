"""This replica's recent attempts per target: the error rate and median latency `GET /admin/targets` shows.

A flow recorder: at each request's end its attempts go into a small window per target (the last `KEEP`
attempts of the last `WINDOW_S` seconds). In memory, per replica, on purpose: it says what this replica saw,
at the cost of a deque append per attempt and no I/O.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from switchboard.core.context import RequestContext
from switchboard.core.ending import Ended
from switchboard.core.outcome import NOT_CALLED, Outcome

WINDOW_S = 300.0
KEEP = 256
# Attempts that say nothing of the target's health: not called, or cut short by the caller's side.
NOT_JUDGED = NOT_CALLED | {Outcome.HEDGE_LOST, Outcome.CLIENT_CLOSED, Outcome.DEADLINE_EXCEEDED}
NOT_ITS_FAULT = frozenset({Outcome.OK, Outcome.BAD_REQUEST})


@dataclass(frozen=True, slots=True)
class _Seen:
    at: float
    outcome: Outcome
    latency_ms: float
    host: str | None


class RecentAttempts:
    def __init__(self, window_s: float = WINDOW_S, keep: int = KEEP) -> None:
        self.window_s = window_s
        self._keep = keep
        self._targets: dict[str, deque[_Seen]] = {}

    # -- the flow's recorder ------------------------------------------------------------------------
    def started(self, ctx: RequestContext) -> None:
        pass

    def finished(self, ctx: RequestContext, ended: Ended) -> None:
        now = time.time()
        for attempt in ctx.attempts:
            key = f"{attempt.provider}:{attempt.model}"
            seen = self._targets.get(key)
            if seen is None:
                seen = self._targets[key] = deque(maxlen=self._keep)
            seen.append(_Seen(now, attempt.outcome, attempt.latency_ms, attempt.host))

    # -- what operators read -------------------------------------------------------------------------
    def summary(self, key: str) -> dict[str, Any]:
        """Attempts called, failed, skipped; the error rate; the median latency of successes (ms)."""
        since = time.time() - self.window_s
        seen = [s for s in self._targets.get(key, ()) if s.at >= since]
        judged = [s for s in seen if s.outcome not in NOT_JUDGED]
        failed = [s for s in judged if s.outcome not in NOT_ITS_FAULT]
        latencies = [s.latency_ms for s in judged if s.outcome is Outcome.OK]
        outcomes: dict[str, int] = {}
        for s in seen:
            outcomes[s.outcome.value] = outcomes.get(s.outcome.value, 0) + 1
        return {
            "window_s": self.window_s,
            "attempts": len(judged),
            "failed": len(failed),
            "skipped": len(seen) - len(judged),
            "error_rate": round(len(failed) / len(judged), 4) if judged else None,
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "outcomes": outcomes,
        }

    def connection_failures(self) -> dict[str, dict[str, Any]]:
        """Per endpoint (host): connection-level failures in the window, and the last one's time."""
        since = time.time() - self.window_s
        hosts: dict[str, dict[str, Any]] = {}
        for seen in self._targets.values():
            for s in seen:
                if s.host is not None and s.at >= since:
                    entry = hosts.setdefault(s.host, {"failures": 0, "last": 0.0})
                    entry["failures"] += 1
                    entry["last"] = max(entry["last"], s.at)
        return hosts
