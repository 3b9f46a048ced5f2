"""Structured logs: one JSON line per request on stdout, secrets scrubbed from every value.

Quiet until `configure()` is called: `switchboard serve` and `switchboard worker` call it; a script that uses
the library calls it to see its request lines (`switchboard.logs.configure("info")`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from switchboard.redact import redact

LEVELS = logging.getLevelNamesMapping()
_threshold = LEVELS["CRITICAL"] + 10  # quiet


def render_scrubbed(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    """The event as one JSON line, with every secret and key-shaped string in it masked.

    Scrubbing the rendered line once is several times cheaper than walking every value of the event."""
    return redact(orjson.dumps(event, default=str).decode())


_second: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """UTC now, ISO 8601 with microseconds and a Z (the date part is formatted once a second)."""
    global _second
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1e6):06d}Z"


def write_record(event: str, fields: dict[str, Any]) -> None:
    """A hot-path info line (the request record): the same JSON line as `log.info`, without structlog's
    processor chain, which costs more than the line itself."""
    if LEVELS["INFO"] < _threshold:
        return
    fields["event"] = event
    fields["level"] = "info"
    sys.stdout.write(redact(orjson.dumps(fields, default=str).decode()) + "\n")
    sys.stdout.flush()


def _by_level(_logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if LEVELS.get(method.upper(), 0) < _threshold:
        raise structlog.DropEvent
    event["level"] = method
    event.setdefault("timestamp", now_iso())
    return event


class _StdoutLogger:
    """Writes to whatever `sys.stdout` is at the time of the call (so test capture sees it)."""

    def msg(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    info = warning = error = critical = debug = exception = msg


structlog.configure(
    processors=[_by_level, render_scrubbed],
    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    logger_factory=lambda *args: _StdoutLogger(),
    cache_logger_on_first_use=True,
)
log = structlog.get_logger()


def configure(level: str = "info") -> None:
    """Write log lines at `level` and above to stdout (one JSON object per line)."""
    global _threshold
    _threshold = LEVELS[level.upper()]


def enabled(level: str = "info") -> bool:
    return LEVELS[level.upper()] >= _threshold
