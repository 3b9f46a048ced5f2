"""`switchboard costs LOG...`: requests, tokens and cost from the request log; with `--savings`, what routing
and the cache saved against a baseline target (`operations/savings.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from switchboard.cli.app import ConfigOption, app, fail, load
from switchboard.cli.logs import log_names, log_window, opened_logs


@app.command()
def costs(
    log_files: Annotated[list[str] | None, typer.Argument(
        help="Request logs (JSON lines, plain or gzip); - for stdin.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="Start: an ISO 8601 time, or a duration back from now "
                                              "(45s, 30m, 24h, 7d, 2w).")] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive), in the same forms as --since.")] = None,
    by: Annotated[str | None, typer.Option(help="Group by these fields, comma-separated: provider, model, route, "
                                           "tenant, tier, task_type, front_door (default provider,model,route,"
                                           "tenant; with --savings tenant,route).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
    savings: Annotated[bool, typer.Option("--savings", help="What routing and the cache saved against a baseline "
                                          "target, the failover and hedging extra, the strong share and "
                                          "feedback.")] = False,
    baseline: Annotated[str | None, typer.Option(help="With --savings: the provider/model to compare with "
                                                 "(default: the strongest target of the default routes).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --savings: the report as one JSON object.")] = False,
    html_file: Annotated[Path | None, typer.Option("--html", help="With --savings: also write the report as one "
                                                   "self-contained page with charts.")] = None,
    config: ConfigOption = None,
) -> None:
    """Requests, tokens and cost per provider, model, route and tenant, from the request log."""
    from switchboard import costs as report

    groups = tuple(g.strip() for g in (by or ("tenant,route" if savings else "provider,model,route,tenant")).split(",")
                   if g.strip())
    unknown = [g for g in groups if g not in report.GROUPS]
    if unknown or not groups:
        raise fail(f"--by: choose from {', '.join(report.GROUPS)}")
    if not savings and (baseline or as_json or html_file):
        raise fail("--baseline, --json and --html go with --savings")
    if as_json and as_csv:
        raise fail("--json or --csv, not both")
    window = log_window(since, until)
    log_files = log_names(log_files, "costs", "give the request log: `switchboard costs requests.log`, or pipe it: "
                          "`switchboard serve | tee requests.log` ... `switchboard costs - < requests.log`")
    with opened_logs(log_files, "costs") as stream:
        lines = list(stream)
    shown = ", ".join(log_files)
    if not savings:
        summary = report.summarize(lines, groups, window[0], window[1])
        if not summary.lines:
            typer.echo(f"switchboard: costs: {shown} is empty: no request records (switchboard serve writes "
                       "one line per request on stdout: `switchboard serve > requests.log`)", err=True)
        elif not summary.records:
            typer.echo(f"switchboard: costs: read {summary.lines} lines of {shown} but found no request records "
                       "(lines with \"record\": \"request\" written by switchboard serve or worker)", err=True)
        if summary.errored:
            typer.echo(f"switchboard: costs: left out {summary.errored} request(s) that no provider answered "
                       "(refused, or failed on every target: recorded at no cost)", err=True)
        typer.echo(report.render(summary.rows, groups, as_csv), nl=False)
        return
    _savings(lines, shown, groups, window, baseline, as_json, as_csv, html_file, load(config))


def _savings(lines: list[str], shown: str, groups: tuple[str, ...], window: tuple[Any, Any], baseline: str | None,
             as_json: bool, as_csv: bool, html_file: Path | None, config: Any) -> None:
    import orjson

    from switchboard.operations import savings_page
    from switchboard.operations.feedback import is_feedback
    from switchboard.operations.logfiles import is_record, objects, record_time
    from switchboard.operations.savings import report, table

    requests, feedback = [], []
    for record in objects(lines):
        if is_record(record):
            at = record_time(record)
            if (window[0] is None or at >= window[0]) and (window[1] is None or at < window[1]):
                requests.append(record)
        elif is_feedback(record):
            feedback.append(record)
    if lines and not requests:
        typer.echo(f"switchboard: costs: read {len(lines)} lines of {shown} but found no request records in the "
                   "window", err=True)
    span = " to ".join(t.isoformat() for t in window if t is not None) or "the whole log"
    try:
        built = report(requests, feedback, config, groups, baseline, window=span)
    except ValueError as error:
        raise fail(str(error)) from None
    if html_file is not None:
        html_file.write_text(savings_page.render(built), encoding="utf-8")
        typer.echo(f"switchboard: wrote {html_file}", err=True)
    if as_json:
        typer.echo(orjson.dumps(built, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(table(built, as_csv), nl=False)
