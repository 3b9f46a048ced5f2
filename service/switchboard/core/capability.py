"""What a request may need from a target; each model declares the capabilities it has."""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    """What a request may need from a target. A model declares its own in the config (`capabilities:`)."""

    TOOLS = "tools"
    VISION = "vision"
    JSON_SCHEMA = "json_schema"
    LOGPROBS = "logprobs"
    MULTIPLE_CHOICES = "n"  # n > 1 in one call
    SEED = "seed"
    PENALTIES = "penalties"  # frequency_penalty / presence_penalty
    LOGIT_BIAS = "logit_bias"
    REASONING = "reasoning"  # reasoning_effort
