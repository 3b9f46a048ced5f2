"""The package's layers, checked: every import (top-level, function-level or type-only) goes down the layer
order `docs/architecture.md` describes, so no package reaches back into one above it and no two modules need
each other. The plug points the architecture page names exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "service" / "switchboard"

# Lowest first. A module may import from its own unit or any unit in an earlier layer.
LAYERS: list[list[str]] = [
    ["core"],
    ["redact", "tasks", "settings", "embeddings"],
    ["logs"],
    ["secrets_manager", "local", "providers", "pricing"],
    ["config"],
    ["resilience", "callers", "routing", "cache", "telemetry", "schema"],
    ["engine"],
    ["flow", "operations"],
    ["pipelines"],
    ["wiring"],
    ["http", "client", "worker", "costs"],
    ["cli", "__init__", "console"],
    ["__main__"],
]
LEVEL = {unit: index for index, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, name: str) -> set[str]:
    """Every switchboard module `path` imports, wherever the import statement stands."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("switchboard")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("switchboard"):
                continue
            for alias in node.names:  # `from switchboard.x import y`: y may be a module of its own
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in ALL else base)
    return found


ALL = modules()


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(name) for name in ALL}
    assert units <= set(LEVEL), f"units without a layer (add them to LAYERS and the docs): {units - set(LEVEL)}"


def test_imports_only_go_down_the_layers() -> None:
    problems = []
    for name, path in ALL.items():
        unit = unit_of(name)
        for imported in imports(path, name):
            other = unit_of(imported)
            if other != unit and LEVEL[other] >= LEVEL[unit]:
                problems.append(f"{name} imports {imported} ({unit} is layer {LEVEL[unit]}, {other} is {LEVEL[other]})")
    assert not problems, "\n".join(problems)


def test_no_two_modules_need_each_other() -> None:
    graph = {name: {i for i in imports(path, name) if i in ALL} for name, path in ALL.items()}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_core_imports_nothing_above_it() -> None:
    for name, path in ALL.items():
        if unit_of(name) == "core":
            outside = {i for i in imports(path, name) if unit_of(i) != "core"}
            assert not outside, f"{name} imports {outside}"


ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


@pytest.mark.parametrize("path", sorted(set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", ARCHITECTURE))))
def test_every_module_the_architecture_page_names_exists(path: str) -> None:
    assert (PACKAGE / path).is_file() or (ROOT / path).is_file(), f"docs/architecture.md names {path}"
