"""A target: one `provider:model` step of a failover chain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class TargetRef(BaseModel):
    """`provider:model`, one step of a failover chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model}"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        if isinstance(value, str):
            provider, sep, model = value.partition(":")
            if not sep or not provider or not model:
                raise ValueError(f"'{value}' is not of the form provider:model")
            return {"provider": provider, "model": model}
        return value


def describe_chain(chain: list[TargetRef] | tuple[TargetRef, ...]) -> str:
    return " > ".join(target.key for target in chain)
