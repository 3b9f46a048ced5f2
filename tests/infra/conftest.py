from __future__ import annotations

import pytest

from tests.infra.stack import Deployment, deploy


@pytest.fixture(scope="session")
def deployments() -> dict[str, Deployment]:
    return {stack: deploy(stack) for stack in ("dev", "prod")}


@pytest.fixture(scope="session")
def without_gpus() -> Deployment:
    return deploy("dev", {"switchboard:gpuEnabled": False})
