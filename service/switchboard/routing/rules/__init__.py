"""The routing rules, one module each. A rule looks at the context and the request and returns a Plan, or
None to pass to the next rule; it may also add to the `Facts` the later rules see (the classifier does).

A module here exposes `build(config, services) -> Rule`; `routing.rules` in the config lists the rules to run,
in order, by module name. Adding a rule is one module here and one entry there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.plan import Facts, Plan
from switchboard.core.request import Request


class Rule(Protocol):
    name: str

    async def decide(self, ctx: RequestContext, request: Request, facts: Facts) -> Plan | None: ...


@dataclass(frozen=True, slots=True)
class Services:
    """What rules may use beyond the config."""

    classifier: Any = None  # routing.classifier.Classifier, when one is loaded
    dial: Any = None  # routing.dial.StrongShareDial (the strong-share dial's threshold)


def load(name: str, config: GatewayConfig, services: Services) -> Rule:
    module = importlib.import_module(f"{__name__}.{name}")
    rule: Rule = module.build(config, services)
    return rule
