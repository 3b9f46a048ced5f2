"""The README, walked from a fresh clone: every ```sh block's commands, in order, in one bash session.

The repository's HEAD is cloned into a temporary directory (commit first: the walk sees what is committed),
and the commands of the README's ```sh blocks run there as a new user would type them, from `make run` to the
durable jobs. Any command that fails fails the walk. The long-running ones (`make run`, `switchboard serve`,
`switchboard worker`) run in the background and the walk waits for their start line ("listening on", "worker
ready") before it goes on; before a block that starts a server, the servers of earlier blocks are stopped (as
the reader presses Ctrl-C before moving on), and everything is stopped at the end.

A block the walk cannot run says so just above it, with its reason:
`<!-- walk: skip (an AWS account ...) -->`.

What it needs is what `make test` installs: Python, make, curl, a `redis-server` (the walk starts one on 6379
unless one answers there already; the README's Redis is that one), and ports 8080 and 6379 on this machine.
The uv cache is shared with the outer install, so `make run` in the clone installs from it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import redis_answers
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
SKIP = re.compile(r"<!--\s*walk:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
LONG_RUNNING = {  # command -> the start line the walk waits for, and for how long (s)
    "make run": ("switchboard: listening on", 600),  # a fresh .venv first
    "switchboard serve": ("switchboard: listening on", 120),
    "switchboard worker": ("switchboard: worker ready", 120),
}
SERVERS = ("make run", "switchboard serve")
# Commands the walk does not run, each with why: `make test` is what runs the walk itself.
NOT_WALKED = {"make test": "the walk runs inside make test"}
MAX_SKIPS = 2
WALK_TIMEOUT_S = 900

PRELUDE = r"""
set -eo pipefail
WALK_ERR=$1
walk_tree() {  # a process and its descendants, deepest first (from /proc: no procps needed)
  local child
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do walk_tree "$child"; done
  echo "$1"
}
walk_stop() {  # every background job and what it started: SIGTERM, then SIGKILL after 15 s
  local pids="" job pid deadline=$((SECONDS + 15))
  for job in $(jobs -p); do pids="$pids $(walk_tree "$job")"; done
  [ -n "${pids// /}" ] || return 0
  echo "walk: stopping$pids" >&2
  kill -TERM $pids 2>/dev/null || true
  for pid in $pids; do
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.2
    done
  done
  wait 2>/dev/null || true
}
walk_ready() {  # PATTERN COUNT PID TIMEOUT: until stderr holds more than COUNT lines with PATTERN
  local deadline=$((SECONDS + $4))
  until [ "$(grep -c -- "$1" "$WALK_ERR" || true)" -gt "$2" ]; do
    kill -0 "$3" 2>/dev/null || { echo "walk: it ended before printing '$1'" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "walk: no '$1' line within $4 s" >&2; return 1; }
    sleep 0.2
  done
}
trap walk_stop EXIT
"""


def sh_blocks(readme: str) -> tuple[list[list[str]], list[str]]:
    """The commands of each ```sh block (continuations joined, comment-only lines dropped), and the reasons
    of the blocks marked to skip."""
    blocks: list[list[str]] = []
    skipped: list[str] = []
    lines = readme.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```sh":
            index += 1
            continue
        end = lines.index("```", index + 1)
        body = lines[index + 1:end]
        above = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = SKIP.search(above)
        if marker:
            skipped.append(marker["reason"])
        else:
            commands, pending = [], ""
            for line in body:
                pending += line
                if pending.endswith("\\"):
                    pending = pending[:-1] + " "
                    continue
                if pending.strip() and not pending.lstrip().startswith("#"):
                    commands.append(pending.strip())
                pending = ""
            blocks.append(commands)
        index = end + 1
    return blocks, skipped


def without_comment(command: str) -> str:
    """The command without a trailing `# comment` (a # that starts a word outside quotes)."""
    quote = None
    for position, char in enumerate(command):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or command[position - 1].isspace()):
            return command[:position].rstrip()
    return command


def long_running(command: str) -> str | None:
    return next((name for name in LONG_RUNNING if re.match(rf"{name}\b", command)), None)


def script(blocks: list[list[str]]) -> str:
    """The bash session: each command echoed then run; long-running ones in the background, waited for."""
    parts = [PRELUDE]
    for number, commands in enumerate(blocks, 1):
        bare = [without_comment(command) for command in commands]
        parts.append(f"\n# -- block {number}")
        if any(long_running(command) in SERVERS for command in bare):
            parts.append("walk_stop")  # the reader stopped the last block's servers before this one
        for command, plain in zip(commands, bare, strict=True):
            if plain in NOT_WALKED:
                parts.append(f"echo {shlex.quote('walk: not running ' + plain + ': ' + NOT_WALKED[plain])} >&2")
                continue
            parts.append(f"echo {shlex.quote('+ ' + command)} >&2")
            name = long_running(plain)
            if name is None:
                parts.append(command)
                continue
            pattern, timeout = LONG_RUNNING[name]
            parts.append(f"walk_count=$(grep -c -- {shlex.quote(pattern)} \"$WALK_ERR\" || true)")
            parts.append(plain if plain.endswith("&") else f"{plain} &")
            parts.append(f"walk_ready {shlex.quote(pattern)} \"$walk_count\" $! {timeout}")
    return "\n".join(parts) + "\n"


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def readme_redis() -> Iterator[None]:
    """The Redis the README names (127.0.0.1:6379): one that answers there already, else a private one."""
    if redis_answers(6379):
        yield
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make test installs it)")
    assert port_free(6379), "port 6379 is taken, not by Redis: the README's Redis lives there"
    server = subprocess.Popen(
        [binary, "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: redis_answers(6379), timeout=10, message="redis-server on port 6379")
        yield
    finally:
        server.terminate()
        server.wait(10)


def test_the_readme_parses_into_blocks_with_few_justified_skips() -> None:
    blocks, skipped = sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(skipped) <= MAX_SKIPS and all(reason.strip() for reason in skipped), skipped
    commands = [without_comment(command) for block in blocks for command in block]
    assert commands[0] == "make run"
    first_cli = next(i for i, c in enumerate(commands) if c.startswith("switchboard "))
    assert "source .venv/bin/activate" in commands[:first_cli]  # on PATH before its first use
    # the walk is part of make test: it is named, and not run by the walk
    assert all(command in NOT_WALKED for command in commands if command.startswith("make test"))
    for block in blocks:  # a block that starts a server waits for it (/healthz) before its first request
        bare = [without_comment(command) for command in block]
        served = [i for i, command in enumerate(bare) if long_running(command) == "switchboard serve"]
        if served:
            assert "/healthz" in bare[served[-1] + 1], block
    assert without_comment("a '#x' \"#\" # note") == "a '#x' \"#\"" and without_comment("b # c") == "b"


@pytest.mark.slow
def test_a_fresh_clone_follows_the_readme(tmp_path: Path, readme_redis: None) -> None:
    missing = [tool for tool in ("git", "make", "curl", "bash") if shutil.which(tool) is None]
    assert not missing, f"the README's commands need {', '.join(missing)}"
    assert port_free(8080), "port 8080 is in use: the walk runs the README as written, on its port"
    clone = tmp_path / "switchboard"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head], check=True)
    blocks, _ = sh_blocks((clone / "README.md").read_text(encoding="utf-8"))
    walk = tmp_path / "walk.sh"
    walk.write_text(script(blocks))
    out, err = tmp_path / "walk.out", tmp_path / "walk.err"
    # A new user's shell: no virtualenv on PATH, no keys, no Switchboard settings; the same home (uv's cache).
    venv_bins = {str(Path(sys.prefix) / "bin"), os.environ.get("VIRTUAL_ENV", "") + "/bin"}
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SWITCHBOARD_", "OTEL_", "PROMETHEUS_")) and name not in (
               "VIRTUAL_ENV", "REDIS_URL", "PYTHONPATH", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CO_API_KEY",
               "VLLM_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "CO_API_URL", "VLLM_BASE_URL")}
    env["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p not in venv_bins)
    with out.open("w") as stdout, err.open("w") as stderr:
        walked = subprocess.Popen(["bash", str(walk), str(err)], cwd=clone, env=env, stdout=stdout,
                                  stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            walked.wait(WALK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(walked.pid, 9)
            walked.wait(10)
    said, printed = err.read_text(errors="replace"), out.read_text(errors="replace")
    assert walked.returncode == 0, (f"the walk stopped (status {walked.returncode}); its last words:\n"
                                    f"{said[-4000:]}\n--- stdout:\n{printed[-2000:]}")
    # What a reader is told they will see.
    assert said.count("switchboard: listening on") == 3 and "switchboard: worker ready" in said
    assert "auth: off (every endpoint open, /metrics too)" in said and "auth: on" in said
    assert re.search(r"switchboard \d+\.\d+\.\d+", printed)  # --version (after an answer with no newline)
    assert "x-ratelimit-remaining-requests: 59" in printed.lower()
    assert re.search(r"^acme\s+1\s", printed, re.MULTILINE), printed[-2000:]  # costs --by tenant: the request
