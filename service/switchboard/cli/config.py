"""`switchboard config show`: the effective config; `switchboard config reload`: a running gateway re-reads its
config file (the one replica reached; SIGHUP does the same for one process)."""

from __future__ import annotations

import typer

from switchboard.cli.admin_api import DEFAULT_URL, UrlOption, call
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


@config_app.command("reload")
def config_reload(url: UrlOption = DEFAULT_URL) -> None:
    """Make a running gateway re-read its config file and swap it in; a bad file changes nothing and the error
    names the field. Reaches one replica: behind a load balancer, SIGHUP each pod instead."""
    result = call(url, "POST", "/admin/config/reload")
    changed = ", ".join(result["changed"]) or "nothing"
    typer.echo(f"reloaded {result['file']} on {result['replica']} (config generation {result['generation']}): "
               f"changed {changed}")
    if result["restart_needed"]:
        typer.echo(f"  not applied until a restart: {', '.join(result['restart_needed'])}")
