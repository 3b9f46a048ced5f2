"""What every part of the config schema shares: strict models, names, targets and chains."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveFloat = Annotated[float, Field(gt=0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=64)]
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$", max_length=128)]  # like model ids


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetRef(Strict):
    """`provider:model`, one step of a failover chain."""

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


Chain = Annotated[list[TargetRef], Field(min_length=1)]


def describe_chain(chain: list[TargetRef] | tuple[TargetRef, ...]) -> str:
    return " > ".join(target.key for target in chain)
