"""Request ids that say whose request they were: 16 random hex digits and an 8-digit tag, an HMAC of them and
the caller's tenant. `POST /feedback` (and anything else that takes a request id back from a caller) can then
tell a caller's own request from another tenant's, and from an id that was never given out, without storing
anything per request. The key derives from the admin key (without one, every caller is the same anonymous
tenant, so a fixed key is enough); rotating the admin key retires the tags made under it.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re

SHAPE = re.compile(r"^[0-9a-f]{24}$")
_ANONYMOUS_KEY = b"switchboard request ids without an admin key"


class RequestIds:
    def __init__(self, pepper: bytes | None = None) -> None:
        key = hmac.new(pepper, b"switchboard request ids v1", hashlib.sha256).digest() if pepper else _ANONYMOUS_KEY
        self._key = key[:64]

    def _tag(self, random: str, tenant: str | None) -> str:
        # Keyed BLAKE2b is a MAC in its own right (no HMAC construction needed), at a third of HMAC-SHA256's cost.
        return hashlib.blake2b(f"{random}|{tenant or ''}".encode(), key=self._key, digest_size=4).hexdigest()

    def new(self, tenant: str | None) -> str:
        unique = f"{random.getrandbits(64):016x}"  # unique, not secret: the tag is what cannot be forged
        return unique + self._tag(unique, tenant)

    def owned(self, request_id: str, tenant: str | None) -> bool:
        """Whether `request_id` (bare, or as a response id: `sb-...`, `chatcmpl-...`, `msg_...`) is one we gave
        this tenant."""
        bare = bare_id(request_id)
        return bool(SHAPE.match(bare)) and hmac.compare_digest(bare[16:], self._tag(bare[:16], tenant))


def bare_id(request_id: str) -> str:
    """The request id inside a response id: `sb-<id>`, `chatcmpl-<id>`, `cmpl-<id>`, `msg_<id>`, `resp_<id>`."""
    for prefix in ("sb-", "chatcmpl-", "cmpl-", "msg_", "resp_"):
        if request_id.startswith(prefix):
            return request_id[len(prefix):]
    return request_id
