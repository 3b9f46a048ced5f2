"""An answer put together from its stream events: text, tool calls, logprobs and finish reason per choice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchboard.core.events import Finish, LogprobsDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from switchboard.core.outcome import FinishReason
from switchboard.core.response import Choice, FunctionCall, ToolCallOut, Usage


@dataclass(slots=True)
class _ChoiceState:
    parts: list[str] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)  # [id, name, arguments...]
    logprobs: list[dict[str, Any]] | None = None
    finish: FinishReason | None = None


@dataclass(slots=True)
class Answer:
    choices: dict[int, _ChoiceState] = field(default_factory=dict)
    usage: Usage | None = None
    ended: bool = False
    chars: int = 0  # characters of text and tool arguments so far
    pieces: int = 0  # content chunks so far (about one token each from OpenAI-style servers)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._choice(event.choice).parts.append(event.text)
            self.chars += len(event.text)
            self.pieces += 1
        elif isinstance(event, ToolCallDelta):
            calls = self._choice(event.choice).calls
            while len(calls) <= event.index:
                calls.append(["", ""])
            call = calls[event.index]
            if event.id is not None:
                call[0] = event.id
            if event.name is not None:
                call[1] = event.name
            if event.arguments:
                call.append(event.arguments)
                self.chars += len(event.arguments)
        elif isinstance(event, LogprobsDelta):
            state = self._choice(event.choice)
            state.logprobs = (state.logprobs or []) + event.entries
        elif isinstance(event, Finish):
            self._choice(event.choice).finish = event.reason
        elif isinstance(event, StreamEnd):
            self.usage = event.usage
            self.ended = True

    def _choice(self, index: int) -> _ChoiceState:
        state = self.choices.get(index)
        if state is None:
            state = self.choices[index] = _ChoiceState()
        return state

    def text(self, choice: int = 0) -> str:
        state = self.choices.get(choice)
        return "".join(state.parts) if state else ""

    def tool_calls(self, choice: int = 0) -> list[ToolCallOut] | None:
        state = self.choices.get(choice)
        if not state or not state.calls:
            return None
        return [ToolCallOut(id=call[0], function=FunctionCall(name=call[1], arguments="".join(call[2:]) or "{}"))
                for call in state.calls]

    def finish_reason(self, choice: int = 0) -> FinishReason:
        state = self.choices.get(choice)
        reason: FinishReason = (state.finish if state else None) or "stop"
        # Tool calls are told by their presence, not by the reason (OpenAI says `stop` for a named tool).
        if state and state.calls and reason == "stop":
            return "tool_calls"
        return reason

    def logprobs(self, choice: int = 0) -> list[dict[str, Any]] | None:
        state = self.choices.get(choice)
        return state.logprobs if state else None

    def all_choices(self) -> list[Choice]:
        return [Choice(index=i, text=self.text(i), tool_calls=self.tool_calls(i), finish_reason=self.finish_reason(i),
                       logprobs=self.logprobs(i)) for i in sorted(self.choices)]

    def output_text(self) -> str:
        """Every choice's text and tool arguments, for estimating output tokens."""
        return "".join("".join(s.parts) + "".join("".join(c[2:]) for c in s.calls) for s in self.choices.values())
