"""Ollama through the official `ollama` Python client, with errors turned into fix-it messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import ollama

from ..redact import redact_credentials
from .base import (BackendHealth, BackendUnreachable, ChatChunk, ChatMessage, ChatStats,
                   ConnectionLost, LLMError, LLMTimeout, ModelInfo, ModelNotFound, OwnSlots,
                   RequestSlots, StreamError)
from .prompt_size import LearnedTokenCounts, PromptSizeEstimator
from .sampling import OLLAMA_NAMES

# what Ollama is sent when set; anything unset keeps Ollama's (or the Modelfile's) default
OPTION_NAMES = ("temperature", "top_p", "num_ctx", "num_predict", "seed", *OLLAMA_NAMES)


class OllamaBackend(LearnedTokenCounts, OwnSlots):
    """One shared client (thread-safe httpx pool) for every worker and the synthesizer.

    Ollama does not say how many requests it runs at once (OLLAMA_NUM_PARALLEL); it queues the
    rest itself, so the app sends them all unless `parallel` caps them.
    """

    kind = "ollama"
    applies_adapters = False

    def __init__(self, host: str, timeout: float = 120.0, keep_alive: str | None = "10m",
                 parallel: int | None = None,
                 prompt_sizes: PromptSizeEstimator | None = None) -> None:
        super().__init__(prompt_sizes)
        self.host = redact_credentials(host)  # what messages name; the client gets the secret
        self.keep_alive = keep_alive
        self.client = ollama.Client(host=host, timeout=httpx.Timeout(timeout, connect=5.0))
        self.slots = RequestSlots(parallel)

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        options = {k: v for k, v in (options or {}).items() if k in OPTION_NAMES and v is not None}
        with translated_errors(self.host, model):
            parts = self.client.chat(model=model, messages=messages, stream=True,
                                     options=options, keep_alive=self.keep_alive)
            try:
                for part in parts:
                    if part.message.content:
                        yield part.message.content
                    if part.done:
                        self.prompt_sizes.observe(model, messages, part.prompt_eval_count)
                        yield ChatStats(
                            done_reason=part.done_reason,
                            prompt_eval_count=part.prompt_eval_count,
                            eval_count=part.eval_count,
                            prompt_eval_duration_ns=part.prompt_eval_duration,
                            eval_duration_ns=part.eval_duration,
                            total_duration_ns=part.total_duration,
                            load_duration_ns=part.load_duration)
                        return
            finally:
                parts.close()
            raise StreamError(f"{self.host} closed the stream for {model} before its final chunk.")

    def close(self) -> None:
        self.client._client.close()

    def list_models(self) -> list[ModelInfo]:
        with translated_errors(self.host, None):
            listed = self.client.list()
        return [ModelInfo(name=m.model or "", size=m.size,
                          details=m.details.model_dump() if m.details else {})
                for m in listed.models]

    def health(self) -> BackendHealth:
        try:
            with translated_errors(self.host, None):
                response = self.client._client.get("/api/version", timeout=5.0)
                response.raise_for_status()
            return BackendHealth(True, self.kind, self.host, version=response.json().get("version"))
        except (LLMError, httpx.HTTPError, ValueError) as exc:
            return BackendHealth(False, self.kind, self.host,
                                 error=redact_credentials(str(exc)))


@contextmanager
def translated_errors(host: str, model: str | None) -> Iterator[None]:
    """Turn client and transport exceptions into `LLMError`s whose text says what to do."""
    try:
        yield
    except (ConnectionError, httpx.ConnectError):
        raise BackendUnreachable(f"Cannot reach Ollama at {host}. Start it with `ollama serve` "
                                 f"(or set OLLAMA_HOST to where it runs).") from None
    except httpx.TimeoutException as exc:
        raise LLMTimeout(f"{model or 'Ollama'} at {host} sent nothing for too long "
                         f"({type(exc).__name__}).") from None
    except ollama.ResponseError as exc:
        if exc.status_code == 404 and "not found" in str(exc.error).lower() and model:
            raise ModelNotFound(f"Model {model} is not available on {host}. "
                                f"Run `ollama pull {model}`.") from None
        where = f" (HTTP {exc.status_code})" if exc.status_code > 0 else " during the stream"
        raise StreamError(f"Ollama reported an error{where}: {exc.error}") from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise ConnectionLost(f"The connection to {host} broke while {model or 'Ollama'} "
                             f"was answering: {exc}") from None
    except json.JSONDecodeError as exc:
        raise StreamError(f"{host} sent a line that is not JSON: {exc}") from None
