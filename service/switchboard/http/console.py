"""The operator console over HTTP: its page and static assets (`GET /console`, shipped in the package under
`switchboard/console/static/`, served by the gateway itself, no network at run time), signing in and out
(`/console/session`), and the gate that lets a console session stand for the admin key on the admin JSON APIs.

The page and its assets are the same for everyone and hold no data; everything with data comes from the admin
JSON APIs (`/admin/...`, `/decide`, `/jobs/...`), which accept either `Authorization: Bearer <admin key>` (the
CLI) or the session cookie. With the cookie, a call that changes state must also carry the CSRF token and come
from the console's own origin (`Origin`, `Sec-Fetch-Site`); anything else is a 403 `csrf_refused`.

Every console response carries a strict Content-Security-Policy: scripts and styles from this origin only, no
inline script or style, no frames, no other origin to connect to.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from switchboard.callers import session as sessions
from switchboard.callers.auth import Unauthorized
from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.http.asgi import Receive, Scope, Send, encode_headers, header_map, read_body, send_body
from switchboard.logs import log
from switchboard.operations.records import replica
from switchboard.wiring import Runtime

STATIC = Path(__file__).resolve().parent.parent / "console" / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
         ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}
# Where a console session stands for the admin key: the admin APIs and the few others the pages read.
SESSION_PATHS = ("/admin/", "/decide", "/jobs/", "/console/session")
SAFE_METHODS = ("GET", "HEAD")
CONSOLE_PATHS = ("/console", *SESSION_PATHS)  # what --metrics-port serves besides /metrics
MAX_SIGN_IN_BYTES = 4096


@cache
def assets() -> dict[str, tuple[bytes, str]]:
    """Every file under static/, read once: name → (bytes, content type). A request names one of these or
    gets a 404; no request path is ever joined onto the file system."""
    found = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            found[path.relative_to(STATIC).as_posix()] = (path.read_bytes(),
                                                          TYPES.get(path.suffix, "application/octet-stream"))
    return found


def _headers(ctx: RequestContext, cache_control: str = "no-store", **more: str) -> list[tuple[bytes, bytes]]:
    return encode_headers({**PAGE_HEADERS, "cache-control": cache_control, "x-request-id": ctx.echo_id, **more})


async def page(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /console`: the page (it signs in, then reads the admin APIs)."""
    body, content_type = assets()["index.html"]
    await send_body(send, 200, body, _headers(ctx), (b"content-type", content_type.encode()))


async def asset(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /console/static/{asset}`: a script, style sheet, or the charting library (vendored)."""
    name = scope["path_params"]["asset"]
    found = assets().get(name)
    if found is None or name == "index.html":
        raise GatewayError(404, "not_found", f"no console asset '{name[:100]}'")
    body, content_type = found
    await send_body(send, 200, body, _headers(ctx, "no-cache"), (b"content-type", content_type.encode()))


# -- signing in and out ----------------------------------------------------------------------------------
def _secure(scope: Scope, headers: dict[str, str]) -> bool:
    return scope.get("scheme") == "https" or headers.get("x-forwarded-proto", "").lower() == "https"


def same_origin(headers: dict[str, str]) -> bool:
    """Whether a browser says the call comes from this origin: `Sec-Fetch-Site` (when sent) is `same-origin`,
    and `Origin` (required: browsers send it on every POST, PUT and DELETE) names this host."""
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == headers.get("host", "") and not parts.path


def _presented_key(body: bytes, headers: dict[str, str]) -> str:
    """The admin key from a sign-in body: JSON `{"key": ...}` or a form's `key=...`."""
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get("key")
        key = values[0] if values else None
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise GatewayError(400, "invalid_json", "sign in with a JSON body: {\"key\": \"<admin key>\"}") from None
        key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise GatewayError(422, "invalid_request", "key: the admin key is required", field="key")
    return key.strip()


async def sign_in(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`POST /console/session` with the admin key: a session cookie, and the CSRF token for the page."""
    runtime: Runtime = app.runtime
    headers = header_map(scope)
    if not same_origin(headers):
        raise GatewayError(403, "csrf_refused", "sign in from the console's own page (this request came from "
                           "another site, or without an Origin header)")
    if not runtime.auth.required or runtime.auth.pepper is None:
        raise GatewayError(403, "forbidden", "authentication is off: set SWITCHBOARD_ADMIN_KEY to use the console")
    if int(headers.get("content-length") or 0) > MAX_SIGN_IN_BYTES:
        raise GatewayError(413, "body_too_large", f"a sign-in body is at most {MAX_SIGN_IN_BYTES} bytes")
    body = await read_body(receive, headers, runtime.config.server.body_timeout_s)
    caller = await runtime.auth.authenticate({"authorization": f"Bearer {_presented_key(body, headers)}"})
    if not caller.admin:
        raise Unauthorized("the console needs the admin key")
    session = sessions.issue(runtime.auth.pepper)
    log.info("console_signed_in", request_id=ctx.id, replica=replica(), expires_at=session.expires_at)
    answer = {"csrf": session.csrf, "expires_at": session.expires_at, "replica": replica()}
    await send_body(send, 200, orjson.dumps(answer),
                    _headers(ctx, **{"set-cookie": sessions.set_cookie(session, _secure(scope, headers))}))


async def session_info(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`GET /console/session`: whether this browser is signed in (401 if not), its CSRF token and expiry."""
    runtime: Runtime = app.runtime
    headers = header_map(scope)
    current = _session(runtime, headers)
    if not ctx.caller.admin:
        raise GatewayError(403, "forbidden", "the console needs the admin key")
    answer = {"csrf": current.csrf if current else None, "expires_at": current.expires_at if current else None,
              "replica": replica()}
    await send_body(send, 200, orjson.dumps(answer), _headers(ctx))


async def sign_out(app: Any, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """`DELETE /console/session`: the cookie is cleared (it would expire on its own within 30 minutes)."""
    headers = header_map(scope)
    await send_body(send, 200, b'{"signed_out":true}',
                    _headers(ctx, **{"set-cookie": sessions.clear_cookie(_secure(scope, headers))}))


# -- the gate: a session cookie in place of the admin key -----------------------------------------------------
def _session(runtime: Runtime, headers: dict[str, str]) -> sessions.Session | None:
    token = sessions.cookie_token(headers.get("cookie"))
    pepper = runtime.auth.pepper
    if token is None or pepper is None:
        return None
    return sessions.verify(pepper, token, time.time())


def session_caller(runtime: Runtime, method: str, path: str, headers: dict[str, str]) -> Caller | None:
    """The admin caller, for a request that presents no key but a valid console session on a path that honours
    one; None when there is no session cookie to consider (the usual authentication follows). A session cookie
    that is expired or forged is a 401; a state-changing call without the CSRF token or from another origin a
    403 `csrf_refused`."""
    if not runtime.auth.required or not path.startswith(SESSION_PATHS):
        return None
    if "authorization" in headers or "x-api-key" in headers:
        return None  # a key was presented (the CLI): it decides
    token = sessions.cookie_token(headers.get("cookie"))
    if token is None:
        return None
    pepper = runtime.auth.pepper
    current = sessions.verify(pepper, token, time.time()) if pepper is not None else None
    if current is None:
        raise Unauthorized("the console session has expired or is not valid: sign in again")
    if method not in SAFE_METHODS:
        if not same_origin(headers):
            raise GatewayError(403, "csrf_refused", "a console call that changes state must come from the console's "
                               "own page (Origin and Sec-Fetch-Site say it came from elsewhere)")
        if not sessions.csrf_matches(current, headers.get(sessions.CSRF_HEADER)):
            raise GatewayError(403, "csrf_refused", f"a console call that changes state needs the session's "
                               f"{sessions.CSRF_HEADER} header", field=sessions.CSRF_HEADER)
    return runtime.auth.admin
