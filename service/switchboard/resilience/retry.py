"""How long to wait before the next attempt.

Hand-written rather than tenacity/stamina: the executor must see each wait before taking it (to fail
over at once when the wait would pass the deadline) and record it as data on the attempt; those
libraries own the loop and the sleep, so the rule below is all we would use of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from switchboard.config import RetryConfig


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    initial_backoff_s: float
    max_backoff_s: float
    jitter: float

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        return cls(config.max_retries, config.initial_backoff_s, config.max_backoff_s, config.jitter)

    def delay(self, retries_taken: int, retry_after_s: float | None = None) -> float:
        """Exponential backoff with jitter; a server's Retry-After is a floor, never ignored."""
        backoff = min(self.initial_backoff_s * 2 ** min(retries_taken, 32), self.max_backoff_s)
        backoff *= 1 - self.jitter * random.random()
        return max(backoff, retry_after_s or 0.0)
