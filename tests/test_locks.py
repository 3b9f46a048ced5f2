"""The service image and `make run` install `service/requirements.lock`; the tests run on `requirements.lock`.
Every version the runtime lock pins is the one the tests run on (`make lock` compiles it constrained by the
other), so no version reaches production untested."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in
            re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", path.read_text(), re.M)}


def test_the_runtime_lock_pins_what_the_tests_run_on() -> None:
    runtime, tested = pins(ROOT / "service" / "requirements.lock"), pins(ROOT / "requirements.lock")
    assert len(runtime) > 20
    assert {name: (version, tested.get(name)) for name, version in runtime.items()
            if tested.get(name) != version} == {}
