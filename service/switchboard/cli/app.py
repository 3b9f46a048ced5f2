"""The `switchboard` command's app and what its commands share: `fail`, `load_config_or_fail`, the config option.

Each group of commands is a module of this package; importing `switchboard.cli` registers them all. Commands
import what they need inside their bodies, so `--help` and `--version` start fast."""

from __future__ import annotations

import ipaddress
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer

# switchboard.config.CONFIG_ENV, written out: importing the config package (pydantic, yaml) here would cost
# `--help` and `--version` half a second (tests/test_first_hour.py checks the two agree).
CONFIG_ENV = "SWITCHBOARD_CONFIG"

# Plain help, without rich: rendering help through rich imports it (0.4 s) before printing a line.
PLAIN = {"rich_markup_mode": None}
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, **PLAIN,
                  help="Switchboard: an LLM routing gateway.")
pipeline_app = typer.Typer(no_args_is_help=True, **PLAIN, help="List and run declared pipelines.")
keys_app = typer.Typer(no_args_is_help=True, **PLAIN,
                       help="Mint, list, show and revoke API keys (Redis or a keys file).")
cache_app = typer.Typer(no_args_is_help=True, **PLAIN,
                        help="The response cache in Redis: clear it, or show its size.")
config_app = typer.Typer(no_args_is_help=True, **PLAIN, help="The effective config.")
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
    from switchboard.config import ConfigError, load_config

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
