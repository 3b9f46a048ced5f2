"""Operation records: one JSON log line per operator action (drain, restore, force, expiry, reload), beside the
request lines, so that `switchboard incident` can put them on the timeline.

Like a request record, each carries a checksum (`sum`) over its key fields, so the incident report counts lines
the gateway wrote and not text that merely looks like one.
"""

from __future__ import annotations

import os
import socket
import zlib
from typing import Any

from switchboard.logs import now_iso, write_record

RECORD = "operation"
def replica() -> str:
    """This process, as `host:pid` (asked each time: a `serve --workers` worker is forked after import)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def checksum(action: str, target: object, timestamp: str, reason: object) -> str:
    return format(zlib.crc32(f"{action}|{target}|{timestamp}|{reason}".encode()), "08x")


def write_operation(action: str, **fields: Any) -> dict[str, Any]:
    """Write one operation record (`action` and who, what, why, until) and return it."""
    timestamp = now_iso()
    record = {"record": RECORD, "action": action, **fields, "replica": replica(), "timestamp": timestamp,
              "sum": checksum(action, fields.get("target"), timestamp, fields.get("reason"))}
    write_record(RECORD, dict(record))
    return record


def is_operation(record: dict[str, Any]) -> bool:
    """An operation record the gateway wrote: its marker and a checksum that matches its fields."""
    if record.get("record") != RECORD or record.get("event") != RECORD:
        return False
    try:
        expected = checksum(str(record["action"]), record.get("target"), str(record["timestamp"]),
                            record.get("reason"))
    except KeyError:
        return False
    return record.get("sum") == expected
