"""Cost from provider-reported usage and the config's prices (USD per million tokens)."""

from __future__ import annotations

from switchboard.config import ModelPrice
from switchboard.schema import Usage

PER_MILLION = 1_000_000


def cost_usd(price: ModelPrice, usage: Usage) -> float:
    """`usage.input_tokens` includes the cached ones, which are billed at the cached price."""
    cached = min(usage.cached_tokens, usage.input_tokens)
    cached_price = price.input if price.cached_input is None else price.cached_input
    total = (
        (usage.input_tokens - cached) * price.input
        + cached * cached_price
        + usage.output_tokens * price.output
    )
    return round(total / PER_MILLION, 10)
