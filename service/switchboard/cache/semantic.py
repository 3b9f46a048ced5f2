"""The semantic cache: a request whose last user message means the same as a cached one's, in the same context
(tenant, system prompt, earlier turns, parameters, chain), gets the cached answer.

Engine, and why: an in-process index per replica (a numpy matrix of the static embeddings, one per context),
fed from Redis. Every stored answer is appended to a Redis stream (`sb:cache:log`); each replica reads the
stream as it grows (a blocking read of at most 200 ms), so one replica's answer is findable from another well
within a second, and a replica that starts reads the stream back first. Redis 7.0, as shipped here, has no
vector search module; and a brute-force dot product over one context's entries takes well under a millisecond
at 10,000 entries, so a vector database would add a network hop for no gain. Without Redis the index is the
replica's own. The answers themselves live in the cache's `Store` (kind `s`). The cosine is only the first test: `embeddings.same_meaning` then checks the words (numbers,
negations, entities, one word swapped for another), which static embeddings cannot tell apart.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.cache.fingerprint import Fingerprint
from switchboard.cache.store import PREFIX, Store, entry_key
from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.embeddings import DEFAULT_THRESHOLD, Embedder, same_meaning
from switchboard.logs import log

LOG = f"{PREFIX}log"
LOG_MAXLEN = 200_000
CANDIDATES = 8  # the closest entries the word check looks at


@dataclass(slots=True)
class _Context:
    """One context's entries: unit vectors (rows), their texts, value keys and expiry times."""

    vectors: np.ndarray
    texts: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # value key -> row

    @property
    def size(self) -> int:
        return len(self.keys)

    def add(self, vector: np.ndarray, text: str, key: str, expires: float) -> None:
        if key in self.rows:
            return
        if self.size == self.vectors.shape[0]:  # grow by doubling: appends stay cheap
            grown = np.zeros((max(8, self.size * 2), self.vectors.shape[1]), dtype=np.float32)
            grown[: self.size] = self.vectors[: self.size]
            self.vectors = grown
        self.vectors[self.size] = vector
        self.rows[key] = self.size
        self.texts.append(text)
        self.keys.append(key)
        self.expires.append(expires)

    def drop(self, key: str) -> None:
        index = self.rows.pop(key)
        last = self.size - 1
        self.vectors[index] = self.vectors[last]
        for items in (self.texts, self.keys, self.expires):
            items[index] = items[last]  # type: ignore[index]
            items.pop()
        if index != last:
            self.rows[self.keys[index]] = index


class SemanticIndex:
    def __init__(self, config: GatewayConfig, client: aioredis.Redis | None, store: Store) -> None:
        self.embedder = Embedder.load()
        self._redis = client
        self._max_entries = config.cache.semantic.max_entries
        self._contexts: dict[str, _Context] = {}
        self._order: deque[tuple[str, str]] = deque()  # (context, key) oldest first, for the entry bound
        self._store = store
        self._last_id = "0-0"
        self._reader: asyncio.Task[None] | None = None

    @property
    def entries(self) -> int:
        return sum(context.size for context in self._contexts.values())

    async def start(self) -> None:
        if self._redis is not None and self._reader is None:
            self._reader = asyncio.create_task(self._follow())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    # -- lookup ------------------------------------------------------------------------------------
    async def find(self, ctx: RequestContext, print_: Fingerprint, threshold: float | None) -> tuple[bytes, float] | None:
        context = self._contexts.get(print_.context)
        if context is None or not context.size or not print_.last_user:
            return None
        limit = threshold or DEFAULT_THRESHOLD
        query = self.embedder.embed([print_.last_user])[0]
        scores = context.vectors[: context.size] @ query
        if context.size > CANDIDATES:  # the closest few, without sorting them all
            closest = np.argpartition(scores, context.size - CANDIDATES)[-CANDIDATES:]
        else:
            closest = np.arange(context.size)
        order = closest[np.argsort(scores[closest])[::-1]]
        now = time.time()
        for index in order:
            similarity = float(scores[index])
            if similarity < limit:
                break
            if context.expires[index] <= now:
                continue
            if not same_meaning(print_.last_user, context.texts[index], similarity, limit):
                continue
            value = await self._value(ctx, context.keys[index])
            if value is not None:
                return value, similarity
        return None

    async def _value(self, ctx: RequestContext, key: str) -> bytes | None:
        try:
            return await self._store.get(key)
        except (RedisError, OSError) as error:
            ctx.notes.append(f"semantic cache read failed: {type(error).__name__}")
            return None

    # -- store -------------------------------------------------------------------------------------
    async def add(self, ctx: RequestContext, print_: Fingerprint, value: bytes, ttl_s: float) -> None:
        if not print_.last_user:
            return
        key = entry_key("s", print_.tenant, print_.exact)
        vector = self.embedder.embed([print_.last_user])[0]
        expires = time.time() + ttl_s
        self._insert(print_.context, vector, print_.last_user, key, expires)
        if self._redis is None:
            await self._store.put(key, value, ttl_s)
            return
        entry = {"context": print_.context, "text": print_.last_user, "key": key, "expires": repr(expires),
                 "vector": vector.astype(np.float16).tobytes(), "model": self.embedder.name}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(PREFIX + key, value, px=int(ttl_s * 1000))  # the store's key, in one round trip
                pipe.xadd(LOG, entry, maxlen=LOG_MAXLEN, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("cache_write_failed", request_id=ctx.id, kind="semantic", error=type(error).__name__)

    def _insert(self, context_key: str, vector: np.ndarray, text: str, key: str, expires: float) -> None:
        context = self._contexts.get(context_key)
        if context is None:
            context = self._contexts[context_key] = _Context(np.zeros((8, self.embedder.dim), dtype=np.float32))
        before = context.size
        context.add(vector, text, key, expires)
        if context.size == before:
            return
        self._order.append((context_key, key))
        while len(self._order) > self._max_entries:
            self._evict(*self._order.popleft())

    def _evict(self, context_key: str, key: str) -> None:
        context = self._contexts.get(context_key)
        if context is None or key not in context.rows:
            return
        context.drop(key)
        if not context.size:
            del self._contexts[context_key]

    # -- following the other replicas --------------------------------------------------------------
    async def _follow(self) -> None:
        """Read the log from its start, then as it grows; a Redis outage pauses this, never the requests."""
        assert self._redis is not None
        while True:
            try:
                replies = await self._redis.xread({LOG: self._last_id}, count=1000, block=200)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in replies or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    self._learn(fields)

    def _learn(self, fields: dict[bytes, bytes]) -> None:
        try:
            if fields[b"model"].decode() != self.embedder.name:
                return  # written by a replica with another embedding model: not comparable
            expires = float(fields[b"expires"])
            if expires <= time.time():
                return
            vector = np.frombuffer(fields[b"vector"], dtype=np.float16).astype(np.float32)
            self._insert(fields[b"context"].decode(), vector, fields[b"text"].decode(), fields[b"key"].decode(),
                         expires)
        except (KeyError, ValueError, UnicodeDecodeError):
            return  # a corrupt entry: skipped

