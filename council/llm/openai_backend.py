"""An OpenAI-compatible server (vLLM, llama.cpp's server) through the official `openai` client.

The point is scale-out: vLLM started with `--enable-lora` serves every persona's adapter at
once from its PEFT folder, where Ollama holds one adapter per base at a time. Token counts
come from the stream's usage chunk; OpenAI-compatible servers report no durations, so the
speed shown under an answer is measured here from the first to the last token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from .base import (
    BackendHealth,
    BackendUnreachable,
    ChatChunk,
    ChatMessage,
    LLMError,
    ChatStats,
    LLMTimeout,
    ModelInfo,
    ModelNotFound,
    StreamError,
)

# Ollama option names -> OpenAI request fields
OPTION_FIELDS = {"temperature": "temperature", "top_p": "top_p", "num_predict": "max_tokens",
                 "seed": "seed"}


class OpenAICompatibleBackend:
    """One shared client for every worker and the synthesizer."""

    kind = "openai"

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 120.0) -> None:
        self.host = base_url.rstrip("/")
        self.client = openai.OpenAI(base_url=self.host, api_key=api_key or "not-needed",
                                    timeout=timeout, max_retries=0)

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        fields = {OPTION_FIELDS[k]: v for k, v in (options or {}).items()
                  if k in OPTION_FIELDS and v is not None}
        started = time.monotonic_ns()
        first_token: int | None = None
        finish_reason: str | None = None
        usage: Any = None
        with openai_errors(self.host, model):
            stream = self.client.chat.completions.create(
                model=model, messages=messages, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True}, **fields)
            with stream:
                try:
                    for chunk in stream:
                        usage = chunk.usage or usage
                        for choice in chunk.choices:
                            if choice.delta.content:
                                first_token = first_token or time.monotonic_ns()
                                yield choice.delta.content
                            finish_reason = choice.finish_reason or finish_reason
                except openai.APIConnectionError:
                    raise StreamError(f"The connection to {self.host} broke while {model} was "
                                      "answering.") from None
        if finish_reason is None:
            raise StreamError(f"{self.host} closed the stream for {model} before it finished.")
        ended = time.monotonic_ns()
        yield ChatStats(
            done_reason=finish_reason,
            prompt_eval_count=getattr(usage, "prompt_tokens", None),
            eval_count=getattr(usage, "completion_tokens", None),
            eval_duration_ns=ended - first_token if first_token else None,
            total_duration_ns=ended - started)

    def list_models(self) -> list[ModelInfo]:
        with openai_errors(self.host, None):
            listed = self.client.models.list()
        return [ModelInfo(name=m.id, details={"owned_by": m.owned_by}) for m in listed.data]

    def health(self) -> BackendHealth:
        try:
            models = self.list_models()
        except LLMError as exc:
            return BackendHealth(False, self.kind, self.host, error=str(exc))
        return BackendHealth(True, self.kind, self.host, version=f"{len(models)} models")

    def close(self) -> None:
        self.client.close()


@contextmanager
def openai_errors(host: str, model: str | None) -> Iterator[None]:
    """Turn the client's exceptions into `LLMError`s whose text says what to do."""
    try:
        yield
    except openai.APITimeoutError:
        raise LLMTimeout(f"{model or 'The server'} at {host} sent nothing for too long.") from None
    except openai.APIConnectionError:
        raise BackendUnreachable(f"Cannot reach the OpenAI-compatible server at {host}. Start it "
                                 "(e.g. `vllm serve ... --enable-lora`) or set OPENAI_BASE_URL "
                                 "to where it runs.") from None
    except openai.NotFoundError as exc:
        if model:
            raise ModelNotFound(f"Model {model} is not served by {host}. Start the server with "
                                f"it (for an adapter: --lora-modules {model}=PATH).") from None
        raise StreamError(f"{host} answered 404: {exc.message}") from None
    except openai.APIStatusError as exc:
        raise StreamError(f"{host} reported an error (HTTP {exc.status_code}): "
                          f"{exc.message}") from None
    except openai.APIError as exc:
        raise StreamError(f"The stream from {host} broke: {exc.message}") from None
