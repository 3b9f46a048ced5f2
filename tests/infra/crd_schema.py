"""Validate a custom resource against its CRD's schema the way the API server does, as far as JSON Schema goes:
types, enums, patterns, required fields, bounds, and no field the schema does not know (the API server prunes
unknown fields, or with strict field validation refuses them; either way a misspelt field is lost). The CEL
rules (`x-kubernetes-validations`) are evaluated by `crd_cel.py`."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CRDS = Path(__file__).parent / "schemas" / "crds"


@cache
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the vendored CRD document."""
    found = {}
    for path in CRDS.glob("*.json"):
        doc = json.loads(path.read_text())
        found[(f"{doc['group']}/{doc['version']}", doc["kind"])] = doc
    return found


def strict(node: Any) -> Any:
    """The schema with `additionalProperties: false` wherever the API server would drop unknown fields."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict(value) for key, value in node.items()}
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        node["additionalProperties"] = False
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return node


def validate(obj: dict[str, Any]) -> dict[str, Any]:
    """Raise jsonschema.ValidationError if `obj` breaks its CRD's schema; return the CRD document used."""
    doc = schemas()[(obj["apiVersion"], obj["kind"])]
    schema = strict(copy.deepcopy(doc["schema"]))
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by the built-in schemas
    jsonschema.Draft7Validator(schema).validate(obj)
    return doc
