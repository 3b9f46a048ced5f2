"""The one error a request can end in: an HTTP status and the structured body to send."""

from __future__ import annotations

from pydantic import ValidationError

from switchboard.schema import ErrorDetail, ErrorResponse, Route


class GatewayError(Exception):
    """A request that ends without an answer: an HTTP status and the structured body to send."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        route: Route | None = None,
        step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorResponse(error=ErrorDetail(code=code, message=message, field=field, step=step), route=route)


def invalid_request(error: ValidationError) -> GatewayError:
    """The first validation problem, with the field it is about."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    return GatewayError(422, "invalid_request", f"{field}: {message}" if field else message, field=field)
