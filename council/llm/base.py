"""The small interface every chat backend offers, and the errors it may raise.

A round only ever sees `ChatBackend`: `stream_chat` yields text deltas and then one `ChatStats`,
so the Ollama client, an OpenAI-compatible server, the embedded llama.cpp engine, a pool of
several servers (`pool.py`) or anything else can sit behind it. `reserve` waits until the
backend can run one more request (a free slot: `RequestSlots`, on one of a pool's servers) and
hands back what to stream from while it holds it; `count_tokens` says how many tokens a prompt
takes. So rounds queue and trim history to fit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


class ConnectionLost(StreamError):
    """The connection broke (the server went away) rather than the server reporting an error;
    a pool moves a request that had no answer yet to another of its servers."""


class LLMTimeout(LLMError):
    """The server went quiet for longer than the request's timeout."""


class PromptTooLong(LLMError):
    """The prompt cannot fit the context window even with the history trimmed away."""


POLL_S = 0.05  # how often a request waiting for a slot asks whether it should give up


def never() -> bool:
    """A `give_up` for callers that wait as long as it takes."""
    return False


class RequestSlots:
    """How many requests a backend runs at once (`limit`, None for no limit); the rest wait.
    `in_use` counts the requests holding one now (a pool sends the next to its least busy
    server).

    A server that runs one request at a time and interrupts it when the next arrives
    (llama-cpp-python's server with its defaults) only completes every answer when the app
    itself never sends more than it runs.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_use = 0
        self._freed = threading.Condition()

    def take(self) -> bool:
        """Take a slot if one is free now; the taker gives it back with `give_back`."""
        with self._freed:
            if self.limit is not None and self.in_use >= self.limit:
                return False
            self.in_use += 1
            return True

    def give_back(self) -> None:
        with self._freed:
            self.in_use -= 1
            self._freed.notify()

    @contextmanager
    def hold(self, give_up: Callable[[], bool] = never) -> Iterator[bool]:
        """Wait for a free slot; yields False (holding nothing) if `give_up()` turns true first."""
        while not self.take():
            if give_up():
                yield False
                return
            with self._freed:
                self._freed.wait_for(self._free_now, timeout=POLL_S)
        try:
            yield True
        finally:
            self.give_back()

    def _free_now(self) -> bool:
        return self.limit is None or self.in_use < self.limit


class ChatStream(Protocol):
    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        """Yield text deltas as `str`, then exactly one `ChatStats` when the model is done."""
        ...


class ChatBackend(ChatStream, Protocol):
    kind: str
    host: str
    # True where a request may name LoRA adapter files to apply (the `adapters` option);
    # elsewhere an adapter is a model of its own on the server (Ollama, vLLM)
    applies_adapters: bool

    def reserve(self, give_up: Callable[[], bool] = never
                ) -> AbstractContextManager[ChatStream | None]:
        """Wait until the backend can run one more request and hold that place: yields what to
        stream from while it is held (the backend itself, or the server a pool chose), or None
        if `give_up()` turned true first. Callers that send one request at a time (discovery,
        training data) call `stream_chat` directly, which a pool sends to a server it picks."""
        ...

    def count_tokens(self, model: str, messages: list[ChatMessage]) -> int:
        """Tokens the prompt for `messages` takes: exact where the backend has the tokenizer,
        otherwise a cautious estimate from what the server reported for earlier prompts."""
        ...

    def list_models(self) -> list[ModelInfo]: ...

    def health(self) -> BackendHealth: ...

    def close(self) -> None: ...


class OwnSlots:
    """`reserve` for a backend that is one server (or one engine) with `slots` of its own."""

    slots: RequestSlots

    @contextmanager
    def reserve(self, give_up: Callable[[], bool] = never) -> Iterator[ChatStream | None]:
        with self.slots.hold(give_up) as holding:
            yield self if holding else None  # type: ignore[misc]
