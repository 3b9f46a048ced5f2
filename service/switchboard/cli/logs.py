"""What the commands that read the gateways' logs share (`costs`, `incident`, `router calibrate`): the time
window, the files (stdin when none is named and one is piped), and reading them (plain or gzip), each failure a
one-line error naming the command and the file."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from switchboard.cli.app import fail


def log_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    from switchboard.operations.logfiles import parse_time

    try:
        start, end = (parse_time(text) if text else None for text in (since, until))
    except ValueError as error:
        raise fail(f"--since/--until: {error}") from None
    return start, end


def log_names(names: list[str] | None, command: str, hint: str) -> list[str]:
    """The files named, or `-` (stdin) when none is and something is piped in; else a usage error with `hint`."""
    if names:
        return names
    if sys.stdin.isatty():
        raise fail(f"{command}: {hint}")
    return ["-"]


@contextmanager
def opened_logs(names: list[str], command: str) -> Iterator[Iterator[str]]:
    """Every file's lines, one after the other; all are opened first, so a missing one fails before any work."""
    from switchboard.operations.logfiles import open_log

    streams = []
    try:
        for name in names:
            try:
                streams.append(open_log(name))
            except OSError as error:
                raise fail(f"{command}: cannot read {name}: {error.strerror or error}") from None
        try:
            yield itertools.chain.from_iterable(streams)
        except (OSError, EOFError) as error:  # a truncated gzip, say
            raise fail(f"{command}: cannot read the logs: {error}") from None
    finally:
        for stream in streams:
            stream.close()
