"""What the Pulumi CLI does with `Pulumi.yaml` and a stack file before the program runs, without the CLI.

- The project file is validated against Pulumi's own JSON schema (`schemas/pulumi-project.json`, vendored from
  pulumi/pulumi `sdk/go/common/workspace/project.json`, 2026-07-24) and the checks `Project.Validate` adds.
- The stack's config is merged with the project's declared keys as `pkg/workspace/config.go` (`mergeConfig`,
  `validateStackConfigValues`) does: a declared key without a default that the stack does not set is
  "missing"; defaults fill the rest; every `secure:` value must decrypt (all of them, declared or not, before
  any check); every explicitly typed key is checked with `ValidateConfigValue` on the value as the stack file
  stores it (top-level scalars as strings, lists and maps as JSON).

The result is the config map the CLI hands the program: every value a string, structured ones as JSON."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "pulumi-project.json").read_text())
_ATOI = re.compile(r"^[+-]?\d+$")


class PulumiConfigError(Exception):
    """What the CLI prints before the program starts (the same wording where it matters)."""


def load_project(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text())
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        raise PulumiConfigError("; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors))
    name = raw["name"]
    for key, declared in (raw.get("config") or {}).items():
        if not isinstance(declared, dict):
            continue  # a bare value: project-level config, not a declaration
        if "default" in declared and "value" in declared:
            raise PulumiConfigError(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
        namespaced = ":" not in key or key.startswith(f"{name}:")
        if namespaced:
            if declared.get("type") == "array" and "items" not in declared:
                raise PulumiConfigError(f"The configuration key '{key}' declares an array but does not specify the "
                                        "underlying type via the 'items' attribute")
            if "type" in declared and "default" in declared and not valid(declared["type"], declared.get("items"),
                                                                           declared["default"]):
                raise PulumiConfigError(f"The default value specified for configuration key '{key}' is not of the "
                                        f"expected type '{declared['type']}'")
        elif "type" in declared or "default" in declared or "value" not in declared:
            raise PulumiConfigError(f"Configuration key '{key}' is not namespaced by the project and should only "
                                    "define a 'value'")
    return raw


def valid(type_name: str, items: dict | None, value: Any) -> bool:
    """`workspace.ValidateConfigValue`."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and bool(_ATOI.match(value))
    if type_name == "boolean":
        return value in ("true", "false") or isinstance(value, bool)
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(valid(items["type"], items.get("items"), item) for item in value)


def _go_scalar(value: Any) -> str:
    """A scalar as the stack file's config map stores it (`object.MarshalString`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and math.isfinite(value) else repr(value)
    return str(value)


def _stored(value: Any) -> tuple[str, bool, bool]:
    """(text, secure, object) as `config.Value` holds a stack file's value."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return str(value["secure"]), True, False
    if isinstance(value, (dict, list)):
        return json.dumps(value), False, True
    return _go_scalar(value), False, False


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def apply(project: dict[str, Any], stack: str, stack_file: dict[str, Any],
          decrypt: Any = None) -> dict[str, str]:
    """The program's config, as `pulumi preview` would hand it over, or the error it would stop with.

    `decrypt(ciphertext) -> plaintext` stands for the stack's secrets provider; without one, a `secure:` value
    cannot be read, which is what a placeholder ciphertext amounts to."""
    name = project["name"]
    config: dict[str, tuple[str, bool, bool]] = {}
    for key, value in (stack_file.get("config") or {}).items():
        if ":" not in key:
            raise PulumiConfigError(f"could not parse key '{key}': configuration keys should be of the form "
                                    "`<namespace>:<name>`")
        if _has_secure(value) and decrypt is None:
            raise PulumiConfigError(f"Stack '{stack}': cannot decrypt '{key}': the value is `secure:` but nothing "
                                    "here holds the key it was encrypted with")
        config[key] = _stored(value)

    missing = []
    declared = {key if ":" in key else f"{name}:{key}": (key, spec)
                for key, spec in (project.get("config") or {}).items() if isinstance(spec, dict)}
    for full_key, (key, spec) in sorted(declared.items()):
        if full_key in config:
            continue
        default = spec.get("value", spec.get("default"))
        if default is None:
            if full_key.split(":", 1)[0] == name:
                missing.append(key)
            continue
        primitive = isinstance(default, (str, int, bool)) and not isinstance(default, float)
        config[full_key] = (_go_scalar(default), False, False) if primitive else (json.dumps(default), False, True)
    if missing:
        names = (f"'{missing[0]}'" if len(missing) == 1
                 else ", ".join(f"'{k}'" for k in missing[:-1]) + f" and '{missing[-1]}'")
        raise PulumiConfigError(f"Stack '{stack}' is missing configuration value{'s' if len(missing) > 1 else ''} "
                                f"{names}")

    plain: dict[str, str] = {}
    for full_key, (text, secure, _) in config.items():
        plain[full_key] = decrypt(text) if secure else text
    for full_key, (key, spec) in sorted(declared.items()):
        _, secure, is_object = config[full_key]
        if spec.get("secret") and not secure:
            raise PulumiConfigError(f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret")
        if "type" not in spec:
            continue
        content: Any = json.loads(plain[full_key]) if is_object else plain[full_key]
        if not valid(spec["type"], spec.get("items"), content):
            raise PulumiConfigError(f"Stack '{stack}' with configuration key '{key}' must be of type "
                                    f"'{spec['type']}'")
    return plain
