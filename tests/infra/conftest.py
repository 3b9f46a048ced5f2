from __future__ import annotations

import pytest

from tests.infra.stack import Deployment, deploy


@pytest.fixture(scope="session")
def deployments() -> dict[str, Deployment]:
    return {stack: deploy(stack) for stack in ("dev", "prod")}


@pytest.fixture(scope="session")
def without_gpus() -> Deployment:
    return deploy("dev", {"switchboard:gpuEnabled": False})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads a deployment of the program under Pulumi's mocks (seconds of CPU each) is the slow
    tier; the config checks that fail before any resource stay in the fast one."""
    for item in items:
        if {"deployments", "without_gpus"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
