"""The response cache: exact (on by default, for deterministic requests) and semantic (opt-in)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from switchboard.config.base import PositiveFloat, Strict


class ExactCacheConfig(Strict):
    enabled: bool = True
    ttl_s: PositiveFloat = 3600.0
    max_bytes: Annotated[int, Field(ge=1024)] = 64 << 20  # the in-memory store's bound (without Redis)


class SemanticCacheConfig(Strict):
    enabled: bool = False
    threshold: Annotated[float, Field(gt=0, le=1)] | None = None  # cosine; None: the calibrated default
    ttl_s: PositiveFloat = 3600.0
    max_entries: Annotated[int, Field(ge=1)] = 100_000  # per replica's in-process index


class CacheConfig(Strict):
    exact: ExactCacheConfig = ExactCacheConfig()
    semantic: SemanticCacheConfig = SemanticCacheConfig()
    sampled: bool = False  # also cache answers to sampled requests (temperature > 0 or unset)


class ExactCacheOverride(Strict):
    enabled: bool | None = None
    ttl_s: PositiveFloat | None = None
    max_bytes: Annotated[int, Field(ge=1024)] | None = None


class SemanticCacheOverride(Strict):
    enabled: bool | None = None
    threshold: Annotated[float, Field(gt=0, le=1)] | None = None
    ttl_s: PositiveFloat | None = None


class CacheOverride(Strict):
    """The same keys under a route: each one given replaces the top-level value for that route."""

    exact: ExactCacheOverride = ExactCacheOverride()
    semantic: SemanticCacheOverride = SemanticCacheOverride()
    sampled: bool | None = None

    def apply(self, base: CacheConfig) -> CacheConfig:
        exact = base.exact.model_copy(update=self.exact.model_dump(exclude_none=True))
        semantic = base.semantic.model_copy(update=self.semantic.model_dump(exclude_none=True))
        sampled = base.sampled if self.sampled is None else self.sampled
        return CacheConfig(exact=exact, semantic=semantic, sampled=sampled)
