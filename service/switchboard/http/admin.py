"""`/admin/keys`: mint, list, show and revoke API keys, with the admin key only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from switchboard.callers.admin import KeySpec, check_spec, create_key, show_key
from switchboard.callers.store import StoreUnavailable
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.http.doors import Encoded, Incoming, parse_body
from switchboard.wiring import Runtime


def admin_only(runtime: Runtime, ctx: RequestContext, what: str = "manage keys") -> None:
    """The admin key, and nothing else, may call /admin (with authentication off, nobody may)."""
    if not runtime.auth.required:
        raise GatewayError(403, "forbidden", f"authentication is off: set SWITCHBOARD_ADMIN_KEY to {what}")
    if not ctx.caller.admin:
        raise GatewayError(403, "forbidden", "the admin key is required for /admin")


def _unavailable(error: StoreUnavailable) -> GatewayError:
    return GatewayError(503, "keys_unavailable", f"the key store cannot be reached: {error}")


@dataclass(frozen=True, slots=True)
class CreateKey:
    spec: KeySpec

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx)
        try:
            check_spec(self.spec, runtime.config)
        except ValueError as error:
            field = str(error).split(":", 1)[0]
            raise GatewayError(422, "invalid_request", str(error), field=field) from None
        try:
            record, key = await create_key(runtime.keys, runtime.auth.pepper, self.spec)
        except StoreUnavailable as error:
            raise _unavailable(error) from None
        return {**record.public(), "key": key}


@dataclass(frozen=True, slots=True)
class ListKeys:
    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx)
        records = await runtime.keys.all()
        usage = await asyncio.gather(*(runtime.keys.usage(record.id) for record in records))  # today's, by key
        return {"keys": [{**record.public(), "today": today} for record, today in zip(records, usage, strict=True)]}


@dataclass(frozen=True, slots=True)
class ShowKey:
    key_id: str

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx)
        shown = await show_key(runtime.keys, self.key_id)
        if shown is None:
            raise GatewayError(404, "unknown_key", f"no key '{self.key_id[:32]}'", field="key_id")
        return shown


@dataclass(frozen=True, slots=True)
class RevokeKey:
    key_id: str

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any:
        admin_only(runtime, ctx)
        record = await runtime.keys.revoke(self.key_id)
        if record is None:
            raise GatewayError(404, "unknown_key", f"no key '{self.key_id[:32]}'", field="key_id")
        runtime.auth.forget(self.key_id)
        return record.public()


class KeysDoor:
    """One door for the four: the method and the path say which."""

    name = "admin"

    def __init__(self, action: str) -> None:
        self.action = action

    def parse(self, body: bytes, incoming: Incoming) -> Any:
        if self.action == "create":
            try:
                return CreateKey(parse_body(KeySpec, body))
            except ValidationError as error:  # a bad --expires raises inside its validator
                raise GatewayError(422, "invalid_request", str(error)) from None
        if self.action == "list":
            return ListKeys()
        key_id = incoming.path_params["key_id"]
        return ShowKey(key_id) if self.action == "show" else RevokeKey(key_id)

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded:
        return (201 if self.action == "create" else 200), {}, orjson.dumps(result)

