"""Console sessions: the admin key, posted once at sign-in, becomes a short-lived signed cookie, so that the key
itself never sits in the browser (not in a URL, not in local storage) and the page's own scripts never see the
session (HttpOnly).

Stateless, so that a session works on every replica: the cookie is `v1.<expiry>.<nonce>.<mac>`, the MAC an HMAC
over expiry and nonce keyed from the admin key (through its pepper, with a label of its own). Rotating the admin
key ends every session; nothing else can, before its expiry, which is why the life is short (30 minutes).

Every state-changing call made with the cookie must also carry the CSRF token (`x-csrf-token`), an HMAC of the
same session under another label: the page gets it at sign-in (or from `GET /console/session`), and another site
can neither read it nor compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

COOKIE = "sb_console"
SECURE_COOKIE = "__Host-sb_console"  # over https: the browser keeps it to this host, path / and Secure
CSRF_HEADER = "x-csrf-token"
LIFETIME_S = 1800
VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the cookie's value
    expires_at: int  # epoch seconds
    csrf: str  # what state-changing calls carry in `x-csrf-token`


def _key(pepper: bytes) -> bytes:
    return hmac.new(pepper, b"switchboard console session v1", hashlib.sha256).digest()


def _mac(key: bytes, label: bytes, body: str) -> str:
    digest = hmac.new(key, label + b"." + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(pepper: bytes, now: float | None = None, lifetime_s: int = LIFETIME_S) -> Session:
    """A new session, `lifetime_s` long."""
    expires = int((time.time() if now is None else now) + lifetime_s)
    body = f"{expires}.{secrets.token_urlsafe(18)}"
    key = _key(pepper)
    return Session(f"{VERSION}.{body}.{_mac(key, b'session', body)}", expires, _mac(key, b"csrf", body))


def verify(pepper: bytes, token: str, now: float | None = None) -> Session | None:
    """The session a cookie value carries, if its MAC holds and it has not expired; else None."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
        return None
    expires = int(parts[1])
    now = time.time() if now is None else now
    if not now < expires <= now + LIFETIME_S + 60:
        return None
    body = f"{parts[1]}.{parts[2]}"
    key = _key(pepper)
    if not hmac.compare_digest(parts[3], _mac(key, b"session", body)):
        return None
    return Session(token, expires, _mac(key, b"csrf", body))


def csrf_matches(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), session.csrf.encode())


def cookie_token(cookie_header: str | None) -> str | None:
    """The session cookie's value in a `Cookie` header (either name), or None."""
    if not cookie_header or COOKIE not in cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # noqa: BLE001 (a malformed Cookie header is no session)
        return None
    for name in (SECURE_COOKIE, COOKIE):
        if name in jar:
            return jar[name].value
    return None


def set_cookie(session: Session, secure: bool) -> str:
    """The `Set-Cookie` value: HttpOnly, SameSite=Strict, path /, Secure (and the `__Host-` name) over https."""
    name = SECURE_COOKIE if secure else COOKIE
    return (f"{name}={session.token}; Path=/; Max-Age={LIFETIME_S}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def clear_cookie(secure: bool) -> str:
    name = SECURE_COOKIE if secure else COOKIE
    return f"{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
