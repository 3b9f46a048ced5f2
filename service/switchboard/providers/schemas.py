"""JSON Schema lowered to what a provider's structured output accepts: what it cannot take goes into the
`description` (PROTOCOLS-TOOLS.md §4, pitfall 9: a model told a constraint in words beats a 400)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SchemaRules:
    """What one provider's structured output accepts of JSON Schema; the rest is lowered into `description`
    (PROTOCOLS-TOOLS.md §4, pitfall 9: a model told a constraint in words beats a 400)."""

    formats: frozenset[str]  # string formats it takes
    close_objects: bool  # every object gets `additionalProperties: false`
    min_items: frozenset[int] = frozenset()  # `minItems` values it takes
    keep: frozenset[str] = frozenset()  # other keywords it takes
    all_of: bool = True  # without it, `allOf` branches are merged into their schema
    pattern_refuses: tuple[str, ...] = ()  # a `pattern` (when kept) with any of these goes to the description


# Keywords every provider takes; subschemas (properties, items, anyOf...) are lowered in turn.
_KEPT = frozenset({"type", "enum", "const", "description", "title", "required", "$ref", "default"})
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")

def lower_schema(schema: Any, rules: SchemaRules) -> Any:
    """`schema` in the subset `rules` allow: `oneOf` read as `anyOf`, other keywords moved into the description."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "oneOf" or key in _SUBSCHEMA_LISTS:
            out["anyOf" if key == "oneOf" else key] = [lower_schema(item, rules) for item in value] \
                if isinstance(value, list) else value
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: lower_schema(item, rules) for name, item in value.items()}
        elif key == "items":
            out[key] = [lower_schema(item, rules) for item in value] if isinstance(value, list) \
                else lower_schema(value, rules)
        elif key == "additionalProperties":
            out[key] = lower_schema(value, rules)
        elif key == "format":
            (out if value in rules.formats else extra)[key] = value
        elif key == "pattern":
            kept = key in rules.keep and isinstance(value, str) and not any(f in value for f in rules.pattern_refuses)
            (out if kept else extra)[key] = value
        elif key == "minItems":
            (out if value in rules.min_items else extra)[key] = value
        elif key in _KEPT or key in rules.keep:
            out[key] = value
        else:
            extra[key] = value
    if not rules.all_of and isinstance(out.get("allOf"), list):
        for branch in out.pop("allOf"):
            for key, value in branch.items() if isinstance(branch, dict) else ():
                if key == "properties" and isinstance(value, dict):
                    out["properties"] = {**value, **out.get("properties", {})}
                elif key == "required" and isinstance(value, list):
                    required = out.get("required", [])
                    out["required"] = [*required, *(name for name in value if name not in required)]
                else:
                    out.setdefault(key, value)
    if rules.close_objects and (out.get("type") == "object" or "properties" in out):
        out["additionalProperties"] = False
    if extra:
        words = "{" + ", ".join(f"{key}: {value}" for key, value in extra.items()) + "}"
        out["description"] = f"{out['description']}\n\n{words}" if out.get("description") else words
    return out
