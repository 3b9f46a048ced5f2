"""Keep secrets out of everything we emit: logs, error bodies, route records."""

from __future__ import annotations

import re

MASK = "[REDACTED]"
# Key shapes worth masking even when we do not hold the key: OpenAI/Anthropic `sk-...`, our own API keys
# `sbk_<id>_<secret>` (a client that pastes its key into a prompt or metadata), bearer tokens, `x-api-key: ...`
# echoes, and AWS access key ids.
_PATTERNS = re.compile(
    r"(?:sk-[A-Za-z0-9_\-*]{6,}|sbk_[a-z0-9]{4,}_[A-Za-z0-9_\-]{4,}|(?i:bearer|basic)\s+[A-Za-z0-9._\-~+/=*]+"
    r"|(?i:x-api-key)\s*[:=]\s*[^\s\"',]+|AKIA[0-9A-Z]{16})"
)
# Every pattern above starts with one of these (compared lower-cased): a line with none of them skips the
# regular expression, which costs ~20 us on a request's log line where a substring test costs well under 1 us.
_ANCHORS = ("sk-", "sbk_", "bearer", "basic", "x-api-key", "akia")
_MIN_SECRET_LENGTH = 6
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact` masks it (and any long enough prefix a provider echoes)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
        elif secret[:12] in text and len(secret) > 16:
            # Providers echo a key's start in auth errors ("Incorrect API key provided: sk-abc1...").
            text = text.replace(secret[:12], MASK)
    lowered = text.lower()
    if any(anchor in lowered for anchor in _ANCHORS):
        return _PATTERNS.sub(MASK, text)
    return text
