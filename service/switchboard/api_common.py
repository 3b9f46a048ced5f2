"""What the HTTP endpoints share: reading a bounded JSON body, writing JSON."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from switchboard.errors import GatewayError

MAX_BODY_BYTES = 1 << 20  # 1 MiB


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(error: GatewayError, request_id: str) -> Response:
    error.body.error.request_id = request_id
    return Response(
        error.body.model_dump_json(exclude_none=True), status_code=error.status, media_type="application/json"
    )


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, at most 1 MiB, or a `GatewayError` that says what is wrong."""
    declared = request.headers.get("content-length")
    too_large = GatewayError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    try:
        data = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as error:
        raise GatewayError(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "invalid_json", "the body must be a JSON object")
    return data
