"""The CEL rules of a CRD (`x-kubernetes-validations`), evaluated as the API server does on create: each rule
with `self` bound to the value at its place in the object, rules that compare with `oldSelf` (transition
rules) left to updates. cel-python runs standard CEL; the two Kubernetes string extensions the pinned CRDs use
(`find`, `split`) are provided here with Kubernetes' meaning (`find`: the first match of a regex or "";
`split`: like Go's)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes

ENVIRONMENT = celpy.Environment()


def _find(value: celtypes.StringType, pattern: celtypes.StringType) -> celtypes.StringType:
    match = re.search(str(pattern), str(value))
    return celtypes.StringType(match.group(0) if match else "")


def _split(value: celtypes.StringType, separator: celtypes.StringType) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(part) for part in str(value).split(str(separator))])


FUNCTIONS = {"find": _find, "split": _split}


@dataclass(frozen=True)
class Violation:
    path: str
    rule: str
    message: str


def _compile(rule: str) -> Any:
    return ENVIRONMENT.program(ENVIRONMENT.compile(rule), functions=FUNCTIONS)


def evaluate(schema: dict[str, Any], value: Any, path: str = "") -> tuple[list[Violation], int]:
    """(violations, rules evaluated) for `value` under `schema`, recursively."""
    violations: list[Violation] = []
    evaluated = 0
    for validation in schema.get("x-kubernetes-validations", ()):
        rule = validation["rule"]
        if "oldSelf" in rule:
            continue
        evaluated += 1
        result = _compile(rule).evaluate({"self": celpy.json_to_cel(value)})
        if isinstance(result, celpy.CELEvalError) or not bool(result):
            message = validation.get("message") or f"failed rule: {rule}"
            violations.append(Violation(path or ".", rule, f"{message} ({result})" if isinstance(
                result, celpy.CELEvalError) else message))
    if isinstance(value, dict):
        for key, item in value.items():
            sub = (schema.get("properties") or {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                found, count = evaluate(sub, item, f"{path}.{key}")
                violations += found
                evaluated += count
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found, count = evaluate(schema["items"], item, f"{path}[{index}]")
            violations += found
            evaluated += count
    return violations, evaluated
