"""Who is calling: what a request's API key says about it."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.config import Limits


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: str | None  # the key's short public id (never the secret); None: no key (authentication off)
    tenant: str | None
    tier: str | None
    models: frozenset[str] | None = None  # provider/model a caller may pin; None: none (admin: all)
    limits: Limits = Limits()
    admin: bool = False

    def may_pin(self, model: str) -> bool:
        return self.admin or self.key_id is None or (self.models is not None and model in self.models)


ANONYMOUS = Caller(None, None, None)
