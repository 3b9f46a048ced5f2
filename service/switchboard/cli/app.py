"""The `switchboard` command's app and what its commands share: `fail`, `load_config_or_fail`, the config option.

Each group of commands is a module of this package; importing `switchboard.cli` registers them all. Commands
import what they need inside their bodies, so `--help` and `--version` start fast."""

from __future__ import annotations

import ipaddress
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer

from switchboard.config import CONFIG_ENV, ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Switchboard: an LLM routing gateway.")
pipeline_app = typer.Typer(no_args_is_help=True, help="List and run declared pipelines.")
keys_app = typer.Typer(no_args_is_help=True, help="Mint, list, show and revoke API keys (Redis or a keys file).")
cache_app = typer.Typer(no_args_is_help=True, help="The response cache in Redis: clear it, or show its size.")
config_app = typer.Typer(no_args_is_help=True, help="The effective config.")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(keys_app, name="keys")
app.add_typer(cache_app, name="cache")
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None, typer.Option(envvar=CONFIG_ENV, help="Config YAML, merged over the embedded defaults.")
]


def fail(message: str, status: int = 2) -> typer.Exit:
    typer.echo(f"switchboard: {message}", err=True)
    return typer.Exit(status)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"switchboard {metadata.version('switchboard')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Switchboard: an LLM routing gateway."""


def load(config: Path | None) -> Any:
    from switchboard.config import load_config

    try:
        return load_config(config)
    except ConfigError as error:
        raise fail(f"config error: {error}") from None


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
