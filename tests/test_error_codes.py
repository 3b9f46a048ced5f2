"""Every error code a client can see is in the one catalogue (`core/errors.py` `CODES`), and a code that is not
cannot be raised: a typo in a code is a failure here, not a surprise for a client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from switchboard.core.errors import CODES, GatewayError

SOURCE = Path(__file__).resolve().parents[1] / "service" / "switchboard"
RAISED = re.compile(r'(?:GatewayError\(\s*\d{3},\s*|super\(\)\.__init__\(\d{3},\s*|RouteRefused\(\s*)"([a-z_]+)"')


def codes_in_source() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        found |= set(RAISED.findall(path.read_text()))
    return found


def test_every_code_raised_in_the_source_is_catalogued() -> None:
    used = codes_in_source()
    assert len(used) > 20
    assert used <= set(CODES), f"not in core.errors.CODES: {sorted(used - set(CODES))}"


def test_a_code_missing_from_the_catalogue_is_refused() -> None:
    with pytest.raises(ValueError, match="not in core.errors.CODES"):
        GatewayError(400, "no_such_code", "nope")


def test_every_catalogued_code_says_what_it_means() -> None:
    assert all(len(meaning) > 10 for meaning in CODES.values())
