"""API keys: their format, their keyed hash, and the record kept for each (never the key itself).

A key reads `sbk_<id>_<secret>`. The id is public (it names the key in logs, metrics and the admin API); the
secret is 32 random bytes. Only HMAC-SHA256(pepper, secret) is stored, where the pepper derives from the admin
key, so a copy of Redis or of the keys file cannot be brute-forced offline without it. (Rotating the admin
key therefore retires every API key minted under it.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from switchboard.core.caller import Limits

PREFIX = "sbk_"
KEY_SHAPE = re.compile(r"^sbk_([a-z0-9]{12})_([A-Za-z0-9_\-]{43})$")
ID_SHAPE = re.compile(r"^[a-z0-9]{12}$")


def pepper(admin_key: str) -> bytes:
    return hmac.new(admin_key.encode(), b"switchboard api key hashing v1", hashlib.sha256).digest()


def digest(pepper_bytes: bytes, secret: str) -> str:
    return hmac.new(pepper_bytes, secret.encode(), hashlib.sha256).hexdigest()


def mint() -> tuple[str, str, str]:
    """(key id, secret, the whole key)."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}{key_id}_{secret}"


def split(key: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    match = KEY_SHAPE.match(key)
    return (match.group(1), match.group(2)) if match else None


@dataclass(slots=True)
class KeyRecord:
    id: str
    hash: str = field(repr=False)
    tenant: str
    tier: str
    rpm: int | None = None
    tpm: int | None = None
    budget_usd_day: float | None = None
    max_in_flight: int | None = None
    models: list[str] | None = None  # provider/model it may use (and pin); None: any its tier allows, no pins
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    revoked_at: float | None = None

    @property
    def limits(self) -> Limits:
        return Limits(rpm=self.rpm, tpm=self.tpm, budget_usd_day=self.budget_usd_day, max_in_flight=self.max_in_flight)

    def status(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """What the admin API and `keys show` print: everything but the hash."""
        view = self.to_dict()
        view.pop("hash")
        view["status"] = self.status()
        return view

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__ if name in data})


DURATION = re.compile(r"^(\d+)([smhdw])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w`, `45s` as seconds; a ValueError naming the accepted forms otherwise."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration: use a number and one of s, m, h, d, w (e.g. 30d)")
    return int(match.group(1)) * SECONDS[match.group(2)]
