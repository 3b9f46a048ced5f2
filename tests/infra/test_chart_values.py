"""Helm checks a chart's values against the chart's `values.schema.json` before installing anything; the
collector chart ships one (the other pinned charts do not), so both collector releases' values are checked
here the same way (without `required`: the chart's defaults fill those)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from infra import versions
from tests.infra.stack import Deployment

SCHEMA = Path(__file__).parent / "schemas" / f"opentelemetry-collector-{versions.COLLECTOR.version}.values.schema.json"


def without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [without_required(v) for v in node]
    return node


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_collector_releases_values_pass_the_charts_schema(deployments: dict[str, Deployment], stack: str) -> None:
    schema = without_required(json.loads(SCHEMA.read_text()))
    releases = [r for r in deployments[stack].helm_releases().values()
                if Deployment.chart(r) == "opentelemetry-collector"]
    assert {r["name"] for r in releases} == {"otel-collector", "otel-logs"}
    for release in releases:
        jsonschema.Draft7Validator(schema).validate(release["values"])
    with pytest.raises(jsonschema.ValidationError):  # a misspelt key is refused, as Helm would
        jsonschema.Draft7Validator(schema).validate({**releases[0]["values"], "replicas": 2})
