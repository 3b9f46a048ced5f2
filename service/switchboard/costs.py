"""`switchboard costs`: requests, tokens and cost from the request log, grouped, for a time window."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from switchboard.operations.logfiles import TIME_FORMS, is_record, objects, parse_time

__all__ = ["GROUPS", "TIME_FORMS", "Row", "Summary", "is_record", "parse_time", "render", "summarize", "total"]

GROUPS = ("provider", "model", "route", "tenant", "tier", "task_type", "front_door")


@dataclass
class Row:
    key: tuple[str, ...]
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    estimated: int = 0


@dataclass
class Summary:
    rows: list[Row]
    lines: int = 0  # lines read
    records: int = 0  # request records among them (checksum verified)
    rejected: int = 0  # lines that looked like records but failed the checksum
    errored: int = 0  # records in the window that no provider answered (refused or failed): left out, cost 0
    notes: list[str] = field(default_factory=list)


def summarize(
    lines: Iterable[str], by: tuple[str, ...] = GROUPS[:4], since: datetime | None = None,
    until: datetime | None = None,
) -> Summary:
    rows: dict[tuple[str, ...], Row] = {}
    summary = Summary([])

    def counted() -> Iterable[str]:
        for line in lines:
            summary.lines += 1
            yield line

    for record in objects(counted()):
        if record.get("event") != "request":
            continue
        if not is_record(record):
            summary.rejected += 1
            continue
        summary.records += 1
        at = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
        if (since and at < since) or (until and at >= until):
            continue
        if not record.get("provider"):
            summary.errored += 1
            continue
        key = tuple(str(record.get(field) or "-") for field in by)
        row = rows.setdefault(key, Row(key))
        row.requests += 1
        row.input_tokens += record.get("input_tokens", 0)
        row.output_tokens += record.get("output_tokens", 0)
        row.cached_tokens += record.get("cached_tokens", 0)
        row.cost_usd += record.get("cost_usd", 0.0)
        row.estimated += bool(record.get("cost_estimated"))
    summary.rows = sorted(rows.values(), key=lambda r: (-r.cost_usd, r.key))
    return summary


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
