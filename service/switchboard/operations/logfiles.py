"""Reading the gateway's logs back: log files (plain or gzip, or stdin) to the records the gateway wrote, and the
time forms the reports accept. `switchboard costs` and `switchboard incident` both read through here.

A record is trusted only with its checksum: a request line (`"record": "request"`) whose `sum` matches its
figures, or an operation line (`"record": "operation"`). Other lines (warnings, Celery's) are skipped.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import orjson

from switchboard.callers.keys import parse_duration
from switchboard.operations.records import is_operation
from switchboard.telemetry.record import RECORD, checksum

TIME_FORMS = "an ISO 8601 time (2026-11-20 or 2026-11-20T10:00:00Z) or a duration back from now (45s, 30m, 24h, 7d, 2w)"


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time, or a duration back from now; a ValueError naming both forms otherwise."""
    try:
        return (now or datetime.now(UTC)) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not {TIME_FORMS}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def record_time(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["timestamp"]))


def is_record(record: dict[str, object]) -> bool:
    """A request record the gateway wrote: its marker and a checksum that matches its figures."""
    if record.get("record") != RECORD or record.get("event") != "request":
        return False
    try:
        expected = checksum(str(record["request_id"]), str(record["timestamp"]), record["cost_usd"],  # type: ignore[arg-type]
                            int(record["input_tokens"]), int(record["output_tokens"]))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return False
    return record.get("sum") == expected


def open_log(path: str) -> TextIO:
    """A log file as text lines: `-` is stdin; gzip is recognised by its magic bytes, whatever the name.
    Raises OSError."""
    raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    buffered = io.BufferedReader(raw) if not isinstance(raw, io.BufferedReader) else raw
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=buffered), encoding="utf-8", errors="replace")
    return io.TextIOWrapper(buffered, encoding="utf-8", errors="replace")


def objects(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects among `lines` (other lines, text or broken JSON, skipped), in file order; the readers
    below then keep the records whose checksums hold."""
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record


def records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The request and operation records among `lines` (checksums verified), in file order."""
    for record in objects(lines):
        if is_record(record) or is_operation(record):
            yield record
