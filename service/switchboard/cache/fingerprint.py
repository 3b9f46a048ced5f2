"""What makes two requests the same question: the caller's tenant, the decided chain, the messages and every
parameter that changes the answer. Two tenants never share an entry.

`context` covers everything but the last user message (the semantic cache compares that message by meaning
within one context); `exact` covers everything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from switchboard.core.plan import Plan
from switchboard.core.request import ImagePart, Message, Request

ANSWER_PARAMS = ("max_tokens", "temperature", "top_p", "stop", "seed", "n", "logprobs", "top_logprobs",
                 "frequency_penalty", "presence_penalty", "logit_bias", "reasoning_effort", "reasoning_budget",
                 "parallel_tool_calls")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    tenant: str
    context: str  # hex digest of everything but the last user message
    exact: str  # hex digest of everything
    last_user: str  # the last user message's text (the semantic cache embeds it)


def _message(message: Message) -> list[Any]:
    content: Any = message.content
    if isinstance(content, list):
        content = [["image", p.url, p.detail] if isinstance(p, ImagePart) else ["text", p.text] for p in content]
    calls = [[c.id, c.name, c.arguments] for c in message.tool_calls or ()]
    return [message.role, content, calls, message.tool_call_id, message.name]


def tenant_tag(tenant: str) -> str:
    """Tenants in cache keys: a fixed-width digest (any name, no glob characters)."""
    return hashlib.sha1(tenant.encode()).hexdigest()[:16]


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def fingerprint(request: Request, plan: Plan, tenant: str | None, max_tokens: int) -> Fingerprint:
    messages = [_message(m) for m in request.messages]
    last = next((i for i in range(len(request.messages) - 1, -1, -1) if request.messages[i].role == "user"), None)
    params = {name: getattr(request, name) for name in ANSWER_PARAMS}
    params["max_tokens"] = max_tokens
    tools = [[t.name, t.description, t.parameters, t.strict] for t in request.tools or ()]
    choice = [request.tool_choice.mode, request.tool_choice.name] if request.tool_choice else None
    form = request.response_format
    response_format = [form.type, form.schema, form.name, form.strict] if form else None
    chain = [t.key for t in plan.targets]
    who = tenant or "-"
    context = [who, chain, params, tools, choice, response_format,
               [m for i, m in enumerate(messages) if i != last], last]
    context_digest = _digest(context)
    exact = _digest([context_digest, messages[last] if last is not None else None])
    return Fingerprint(who, context_digest, exact, request.messages[last].text() if last is not None else "")
