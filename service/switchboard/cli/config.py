"""`switchboard config show`: the effective config."""

from __future__ import annotations

import typer

from switchboard.cli.app import (
    ConfigOption,
    config_app,
    load,
)


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective config: your file merged over the embedded defaults."""
    import yaml

    loaded = load(config)
    typer.echo(yaml.safe_dump(loaded.model_dump(mode="json", exclude_none=True), sort_keys=False), nl=False)
