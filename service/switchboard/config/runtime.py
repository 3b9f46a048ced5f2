"""Retries, breakers, timeouts and the server's own limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from switchboard.config.base import PositiveFloat, Strict


class RetryConfig(Strict):
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    initial_backoff_s: PositiveFloat = 0.5
    max_backoff_s: PositiveFloat = 8.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25


class BreakerConfig(Strict):
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    cooldown_s: PositiveFloat = 30.0


class TimeoutConfig(Strict):
    request_s: PositiveFloat = 60.0  # the whole request, when the caller gives no deadline
    pipeline_s: PositiveFloat = 300.0  # a whole pipeline run, when the caller gives no timeout_s
    max_request_s: PositiveFloat = 600.0  # the longest deadline a caller may ask for
    attempt_s: PositiveFloat = 30.0  # one upstream call that does not stream (embeddings)
    connect_s: PositiveFloat = 5.0
    first_token_s: PositiveFloat = 15.0  # from sending a request to its first content token
    stall_s: PositiveFloat = 15.0  # the longest silence between two chunks of an answer


class ServerConfig(Strict):
    max_in_flight: Annotated[int, Field(ge=1)] = 512  # per worker process; beyond it: 503 overloaded
    body_timeout_s: PositiveFloat = 5.0  # to send a request's whole body, once its head has arrived
    shutdown_grace_s: Annotated[float, Field(ge=0)] = 30.0  # SIGTERM: time for requests in flight to finish
