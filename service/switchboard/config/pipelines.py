"""Pipelines: small DAGs of steps, each a request with its own failover chain."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from switchboard.config.base import Chain, Name, Strict

PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?\}")


class PipelineInput(Strict):
    """An input is required unless it has a default."""

    description: str | None = None
    default: str | None = None


class PipelineStep(Strict):
    """One request of a pipeline. `prompt` (and `system`) may use {inputs.NAME} and {steps.NAME}."""

    name: Name
    targets: Chain
    prompt: Annotated[str, Field(min_length=1)]
    system: str | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None

    def placeholders(self) -> list[tuple[str, str | None]]:
        text = self.prompt + (self.system or "")
        return [(match.group(1), match.group(2)) for match in PLACEHOLDER.finditer(text)]

    def depends_on(self) -> list[str]:
        return list(dict.fromkeys(name for space, name in self.placeholders() if space == "steps" and name))


class PipelineConfig(Strict):
    description: str | None = None
    inputs: dict[Name, PipelineInput] = {}
    steps: Annotated[list[PipelineStep], Field(min_length=1)]
    output: str | None = None  # the step whose text is the result; the last step by default
    tiers: list[str] | None = None  # the tiers whose keys may run it (the admin key always may); None: every tier

    @model_validator(mode="after")
    def _templates_refer_to_known_things(self) -> PipelineConfig:
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            where = f"steps[{index}] ({step.name})"
            if step.name in seen:
                raise ValueError(f"{where}: step name '{step.name}' is used twice")
            for space, name in step.placeholders():
                placeholder = f"{{{space}.{name}}}" if name else f"{{{space}}}"
                if space == "inputs" and name in self.inputs:
                    continue
                if space == "steps" and name in seen:
                    continue
                if space == "inputs":
                    problem = f"refers to unknown input '{name}' (declared: {', '.join(self.inputs) or 'none'})"
                elif space == "steps" and name in {s.name for s in self.steps}:
                    problem = f"refers to step '{name}', which does not run before it"
                elif space == "steps":
                    problem = f"refers to unknown step '{name}'"
                else:
                    problem = "is not a placeholder: use {inputs.NAME} or {steps.NAME}"
                raise ValueError(f"{where}.prompt: {placeholder} {problem}")
            seen.add(step.name)
        if self.output is not None and self.output not in seen:
            raise ValueError(f"output: unknown step '{self.output}'")
        return self

    @property
    def output_step(self) -> str:
        return self.output or self.steps[-1].name
