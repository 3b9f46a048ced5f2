"""The cost–quality dial: `routing.classifier.strong_share`. Instead of a fixed complexity threshold, the
threshold follows the (1 − share) quantile of recent complexity scores (`calibrate.threshold_for_share`,
RouteLLM's calibration), so about that share of classified requests is labelled complex and takes the strong
chains, whatever the traffic looks like this week.

The request path only appends a score to a local window and reads a float. Replicas share their windows
through Redis: every quarter second each pushes the scores it saw to one list (trimmed to the window) and takes
the threshold of the whole list, so every replica steers towards the same share; without Redis (or while it is
unreachable) each process steers on its own window. Until `MIN_SCORES` scores are in, the configured
`complex_threshold` holds. The threshold in use is a gauge set at scrape time
(`switchboard_complexity_threshold`), in `/decide` and in the log line.
"""

from __future__ import annotations

import asyncio
from collections import deque

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.routing.calibrate import threshold_for_share

KEY = "sb:route:scores"
WINDOW = 1000  # the recent scores the quantile is taken over (every replica's together, with Redis)
MIN_SCORES = 20
LOCAL_EVERY = 16  # without Redis: the threshold is taken again after this many new scores
SYNC_S = 0.25


class StrongShareDial:
    def __init__(self, client: aioredis.Redis | None) -> None:
        self._redis = client
        self.share: float | None = None
        self.fallback = 0.5
        self.threshold = 0.5
        self._local: deque[float] = deque(maxlen=WINDOW)
        self._pending: list[float] = []
        self._since = 0
        self._task: asyncio.Task[None] | None = None

    def configure(self, share: float | None, fallback: float) -> None:
        """The dial's setting from the config (at start and on each reload)."""
        changed = share != self.share
        self.share, self.fallback = share, fallback
        if share is None or changed:
            self.threshold = fallback if share is None or len(self._local) < MIN_SCORES else \
                threshold_for_share(self._local, share)

    @property
    def on(self) -> bool:
        return self.share is not None

    def observe(self, score: float) -> None:
        """A classified request's score (the request path: an append, and now and then a quantile)."""
        self._local.append(score)
        if self._redis is not None:
            self._pending.append(score)
            return
        self._since += 1
        if self._since >= LOCAL_EVERY:
            self._since = 0
            self._retake(self._local)

    def _retake(self, scores: deque[float] | list[float]) -> None:
        if self.share is not None and len(scores) >= MIN_SCORES:
            self.threshold = threshold_for_share(scores, self.share)

    async def start(self) -> None:
        if self._redis is not None and self._task is None:
            self._task = asyncio.create_task(self._share_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _share_forever(self) -> None:
        while True:
            await asyncio.sleep(SYNC_S)
            if self.share is not None:
                await self.sync()

    async def sync(self) -> None:
        """Push this replica's new scores, take the threshold of every replica's window."""
        assert self._redis is not None
        pending, self._pending = self._pending, []
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                if pending:
                    pipe.rpush(KEY, *pending)
                    pipe.ltrim(KEY, -WINDOW, -1)
                pipe.lrange(KEY, 0, -1)
                replies = await pipe.execute()
        except (RedisError, OSError):
            self._retake(self._local)  # Redis away: steer on what this replica saw
            return
        self._retake([float(raw) for raw in replies[-1]])
