"""`switchboard serve`: the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from switchboard.config import CONFIG_ENV, ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Switchboard: an LLM routing gateway.")


@app.callback()
def main() -> None:
    """Switchboard: an LLM routing gateway."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    config: Annotated[
        Path | None, typer.Option(envvar=CONFIG_ENV, help="Routing config YAML (default: the embedded one).")
    ] = None,
) -> None:
    """Start the HTTP service."""
    import uvicorn

    from switchboard.api import create_app
    from switchboard.gateway import Switchboard

    try:
        switchboard = Switchboard.from_config(config)
    except ConfigError as error:
        typer.echo(f"switchboard: config error: {error}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        create_app(switchboard),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
