"""Provider keys never reach logs, error bodies or route records."""

from __future__ import annotations

import httpx

from switchboard.redact import redact, register_secret
from tests.conftest import KEYS, make_config
from tests.fakes import Reply


def _assert_no_key_in(text: str) -> None:
    for key in KEYS.values():
        assert key not in text
        assert key[:12] not in text  # nor the prefix providers echo back


def test_keys_never_appear_in_logs_or_responses(serve, fakes, capfd) -> None:
    # Every provider refuses the key, echoing part of it (as OpenAI does), then everything fails.
    for fake in (fakes.openai, fakes.anthropic, fakes.cohere):
        fake.api_key = "something-else"
    fakes.vllm.default = Reply(status=500, error_message=f"upstream said: key {KEYS['OPENAI_API_KEY']}")
    seen = []
    with httpx.Client(base_url=serve(make_config(retry={"max_retries": 0}))) as client:
        for task_type in ("creative_writing", "technical_explanation", "summarization"):
            response = client.post("/complete", json={"text": "hi", "task_type": task_type})
            assert response.status_code == 502
            seen.append(response.text + str(response.headers))
        seen.append(client.get("/readyz").text)
    captured = capfd.readouterr()
    assert "auth_error" in captured.out  # the log lines were written and captured
    _assert_no_key_in(captured.out + captured.err + "".join(seen))


def test_redact_masks_registered_secrets_and_key_shapes() -> None:
    register_secret("my-very-own-secret-value-123")
    text = redact("a my-very-own-secret-value-123 b; Authorization: Bearer abc.def; sk-proj-abcdefgh1234")
    assert "my-very-own" not in text and "abc.def" not in text and "sk-proj-abcdefgh1234" not in text
    assert text.count("[REDACTED]") == 3
