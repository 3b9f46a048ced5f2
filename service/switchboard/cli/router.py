"""`switchboard router calibrate LOG... --strong-share S`: the fixed complexity threshold the logged scores imply
for a strong share (RouteLLM's calibration), to write into `routing.classifier.complex_threshold`."""

from __future__ import annotations

from typing import Annotated

import typer

from switchboard.cli.app import PLAIN, app, fail
from switchboard.cli.logs import opened_logs

router_app = typer.Typer(no_args_is_help=True, **PLAIN, help="The routing decision: calibrate the complexity "
                         "threshold from the request log.")
app.add_typer(router_app, name="router")


@router_app.command("calibrate")
def calibrate(
    log_files: Annotated[list[str], typer.Argument(help="Request logs (JSON lines, plain or gzip); - for stdin.")],
    strong_share: Annotated[float, typer.Option("--strong-share", min=0.0, max=1.0,
                                                help="The share of classified requests to send strong.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Print the complexity threshold that would have sent `--strong-share` of the logged classified requests to
    the strong chains (their scores' (1 - share) quantile)."""
    import orjson

    from switchboard.operations.logfiles import is_record, objects
    from switchboard.routing.calibrate import threshold_for_share

    scores: list[float] = []
    records = 0
    with opened_logs(log_files, "router calibrate") as stream:
        for record in objects(stream):
            if is_record(record):
                records += 1
                if isinstance(record.get("score"), int | float):
                    scores.append(float(record["score"]))
    if not scores:
        raise fail(f"router calibrate: no classified requests (request records with a complexity score) among "
                   f"{records} request records", 1)
    threshold = threshold_for_share(scores, strong_share)
    strong = sum(score >= threshold for score in scores)
    if as_json:
        typer.echo(orjson.dumps({"strong_share": strong_share, "threshold": round(threshold, 6),
                                 "scored": len(scores), "strong": strong, "achieved_share": strong / len(scores),
                                 "requests": records}).decode())
        return
    typer.echo(f"threshold {threshold:.4f}: {strong} of {len(scores)} classified requests ({strong / len(scores):.1%}) "
               f"score at or above it (asked: {strong_share:.0%}; {records} request records read)\n"
               f"  routing:\n    classifier:\n      complex_threshold: {threshold:.4f}")
