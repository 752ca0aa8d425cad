"""The small interface every chat backend offers, and the errors it may raise.

A round only ever sees `ChatBackend`: `stream_chat` yields text deltas and then one `ChatStats`,
so the Ollama client, an OpenAI-compatible server, the embedded llama.cpp engine or anything
else can sit behind it. Each backend also says how many requests it runs at once (`slots`) and
how many tokens a prompt takes (`count_tokens`), so rounds queue and trim history to fit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatStats:
    """Ollama's final-chunk fields; durations are nanoseconds as Ollama reports them."""

    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_duration_ns: int | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None

    @classmethod
    def of(cls, row: Any) -> ChatStats:
        """The stats a stored generation (a row with the STAT_FIELDS columns) kept."""
        return cls(**{name: getattr(row, name) for name in STAT_FIELDS})

    def summary(self) -> dict[str, Any]:
        """What the browser shows under an answer: tokens and speed."""
        tokens_per_s = None
        if self.eval_count and self.eval_duration_ns:
            tokens_per_s = round(self.eval_count / (self.eval_duration_ns / 1e9), 1)
        return {"eval_count": self.eval_count, "prompt_eval_count": self.prompt_eval_count,
                "eval_duration_ns": self.eval_duration_ns,
                "total_duration_ns": self.total_duration_ns, "tokens_per_s": tokens_per_s,
                "done_reason": self.done_reason}


STAT_FIELDS = ("done_reason", "prompt_eval_count", "eval_count", "prompt_eval_duration_ns",
               "eval_duration_ns", "total_duration_ns", "load_duration_ns")


@dataclass(frozen=True)
class ModelInfo:
    """A model the backend can serve, as the Status page lists it."""

    name: str
    size: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendHealth:
    """Whether the backend answers now, and what it says about itself."""

    reachable: bool
    kind: str
    host: str
    version: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


ChatMessage = dict[str, str]
ChatChunk = str | ChatStats


class LLMError(Exception):
    """A failure a user can act on; the message says how. A worker that meets one is marked
    failed with it, and the round goes on with the others."""


class BackendUnreachable(LLMError):
    """Nothing answers at the backend's address (not started, wrong host or port)."""


class ModelNotFound(LLMError):
    """The server answers but does not have the model: pull it, or name another."""


class StreamError(LLMError):
    """The answer broke off, or the server sent something that is not an answer."""


class LLMTimeout(LLMError):
    """The server went quiet for longer than the request's timeout."""


class PromptTooLong(LLMError):
    """The prompt cannot fit the context window even with the history trimmed away."""


class RequestSlots:
    """How many requests a backend runs at once (`limit`, None for no limit); the rest wait.

    A server that runs one request at a time and interrupts it when the next arrives
    (llama-cpp-python's server with its defaults) only completes every answer when the app
    itself never sends more than it runs.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._free = threading.Semaphore(limit) if limit else None

    @contextmanager
    def hold(self, give_up: Callable[[], bool] = lambda: False) -> Iterator[bool]:
        """Wait for a free slot; yields False (holding nothing) if `give_up()` turns true first."""
        if self._free is None:
            yield True
            return
        while not self._free.acquire(timeout=0.05):
            if give_up():
                yield False
                return
        try:
            yield True
        finally:
            self._free.release()


class ChatBackend(Protocol):
    kind: str
    host: str
    slots: RequestSlots
    # True where a request may name LoRA adapter files to apply (the `adapters` option);
    # elsewhere an adapter is a model of its own on the server (Ollama, vLLM)
    applies_adapters: bool

    def count_tokens(self, model: str, messages: list[ChatMessage]) -> int:
        """Tokens the prompt for `messages` takes: exact where the backend has the tokenizer,
        otherwise a cautious estimate from what the server reported for earlier prompts."""
        ...

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        """Yield text deltas as `str`, then exactly one `ChatStats` when the model is done."""
        ...

    def list_models(self) -> list[ModelInfo]: ...

    def health(self) -> BackendHealth: ...

    def close(self) -> None: ...
