"""`switchboard costs LOG...`: requests, tokens and cost from the request log."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from switchboard.cli.app import (
    app,
    fail,
)


@app.command()
def costs(
    log_file: Annotated[str | None, typer.Argument(help="The request log (JSON lines); - for stdin.")] = None,
    since: Annotated[str | None, typer.Option(help="Start: an ISO 8601 time, or a duration back from now "
                                              "(45s, 30m, 24h, 7d, 2w).")] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive), in the same forms as --since.")] = None,
    by: Annotated[str, typer.Option(help="Group by these fields, comma-separated: provider, model, route, tenant, "
                                    "tier, task_type, front_door.")] = "provider,model,route,tenant",
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
) -> None:
    """Requests, tokens and cost per provider, model, route and tenant, from the request log."""
    from switchboard import costs as report

    groups = tuple(g.strip() for g in by.split(",") if g.strip())
    unknown = [g for g in groups if g not in report.GROUPS]
    if unknown or not groups:
        raise fail(f"--by: choose from {', '.join(report.GROUPS)}")
    try:
        window = [report.parse_time(t) if t else None for t in (since, until)]
    except ValueError as error:
        raise fail(f"--since/--until: {error}") from None
    if log_file is None:
        if sys.stdin.isatty():
            raise fail("costs: give the request log: `switchboard costs requests.log`, or pipe it: "
                       "`switchboard serve | tee requests.log` ... `switchboard costs - < requests.log`")
        log_file = "-"
    try:
        stream = sys.stdin if log_file == "-" else open(log_file, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as error:
        raise fail(f"costs: cannot read {log_file}: {error.strerror}") from None
    with stream:
        summary = report.summarize(stream, groups, window[0], window[1])
    if summary.lines and not summary.records:
        typer.echo(f"switchboard: costs: read {summary.lines} lines of {log_file} but found no request records "
                   "(lines with \"record\": \"request\" written by switchboard serve or worker)", err=True)
    typer.echo(report.render(summary.rows, groups, as_csv), nl=False)
