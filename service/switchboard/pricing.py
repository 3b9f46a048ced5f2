"""Cost, from provider-reported usage and a versioned price table (USD per million tokens).

When a provider reports no usage the tokens are estimated from the text and the cost is marked
`cost_estimated`; reported usage is never replaced by an estimate.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field

from switchboard.core.request import CHARS_PER_TOKEN
from switchboard.core.response import Usage

PER_MILLION = 1_000_000
PRICES_ENV = "SWITCHBOARD_PRICES"  # names another price table (read by the config loader)
Price = Annotated[float, Field(ge=0)]


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Price
    output: Price
    cached_input: Price | None = None  # cache reads; the input price when absent
    cache_write: Price | None = None  # cache writes (Anthropic); the input price when absent


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    prices: dict[str, dict[str, ModelPrice]]

    def get(self, provider: str, model: str) -> ModelPrice | None:
        return self.prices.get(provider, {}).get(model)


def load_price_table(path: str | Path | None = None) -> PriceTable:
    text = Path(path).read_text() if path else resources.files("switchboard").joinpath("prices.yaml").read_text()
    return PriceTable.model_validate(yaml.safe_load(text))


def cost_usd(price: ModelPrice, usage: Usage) -> float:
    """`usage.input_tokens` includes cache reads and writes, each billed at its own price."""
    cached = min(usage.cached_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    total = (
        (usage.input_tokens - cached - written) * price.input
        + cached * (price.input if price.cached_input is None else price.cached_input)
        + written * (price.input if price.cache_write is None else price.cache_write)
        + usage.output_tokens * price.output
    )
    return round(total / PER_MILLION, 10)


def estimate_usage(input_tokens: int, text: str) -> Usage:
    """Only for replies that carry no usage at all: the prompt's estimate, and the answer's from its text."""
    return Usage(input_tokens=input_tokens, output_tokens=-(-len(text) // CHARS_PER_TOKEN))
