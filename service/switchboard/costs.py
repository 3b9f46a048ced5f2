"""`switchboard costs`: requests, tokens and cost from the request log, grouped, for a time window."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

GROUPS = ("provider", "model", "route", "tenant")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time, or a duration back from now: 30m, 24h, 7d."""
    match = _DURATION.match(text.strip())
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Row:
    key: tuple[str, ...]
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    estimated: int = 0


def summarize(
    lines: Iterable[str], by: tuple[str, ...] = GROUPS, since: datetime | None = None, until: datetime | None = None
) -> list[Row]:
    rows: dict[tuple[str, ...], Row] = {}
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if record.get("event") != "request" or not record.get("provider"):
            continue
        at = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
        if (since and at < since) or (until and at >= until):
            continue
        key = tuple(str(record.get(field) or "-") for field in by)
        row = rows.setdefault(key, Row(key))
        row.requests += 1
        row.input_tokens += record.get("input_tokens", 0)
        row.output_tokens += record.get("output_tokens", 0)
        row.cached_tokens += record.get("cached_tokens", 0)
        row.cost_usd += record.get("cost_usd", 0.0)
        row.estimated += bool(record.get("cost_estimated"))
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, r.key))


def total(rows: list[Row], width: int) -> Row:
    return Row(("TOTAL", *[""] * (width - 1)), sum(r.requests for r in rows), sum(r.input_tokens for r in rows),
               sum(r.output_tokens for r in rows), sum(r.cached_tokens for r in rows),
               sum(r.cost_usd for r in rows), sum(r.estimated for r in rows))


def render(rows: list[Row], by: tuple[str, ...], as_csv: bool = False) -> str:
    header = [*by, "requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "estimated"]
    body = [[*r.key, r.requests, r.input_tokens, r.output_tokens, r.cached_tokens, f"{r.cost_usd:.6f}", r.estimated]
            for r in [*rows, total(rows, len(by))]]
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body[:-1])  # CSV is for machines: no total row
        return out.getvalue()
    cells = [header, *[[str(c) for c in row] for row in body]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = range(len(by), len(header))
    return "\n".join(
        "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ) + "\n"
