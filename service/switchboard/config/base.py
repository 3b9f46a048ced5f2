"""What every part of the config schema shares: strict models, names, targets and chains."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from switchboard.core.target import TargetRef

PositiveFloat = Annotated[float, Field(gt=0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=64)]
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$", max_length=128)]  # like model ids


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Chain = Annotated[list[TargetRef], Field(min_length=1)]
