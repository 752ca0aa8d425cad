"""Streaming generations in parallel: the machinery under every stage of a round.

A `Generation` is one streamed answer (a worker's, a reviewer's, the synthesizer's) while it
runs; `run_generations` streams several at once on a thread pool and finishes each exactly
once, as done, failed, timed out or stopped (`RoundStore.save` then writes its row).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from ..llm.base import ChatBackend, ChatMessage, ChatStats, LLMError
from ..llm.repetition import REPEATING, LoopDetector
from ..redact import redact_credentials

log = logging.getLogger(__name__)
QUEUE_HANDOVER_S = 0.05


@dataclass
class Generation:
    """One streamed generation (a worker answer or the synthesis) while it runs.

    Whoever moves it out of "running" first (the streaming thread when the model finishes or
    fails, the round when it stops or times out) owns writing its final state.
    """

    row_id: int
    model: str
    messages: list[ChatMessage]
    options: dict[str, Any]
    # called with each delta and its index among the deltas, so a page that joins mid-answer
    # can tell the tokens it already has (`snapshot`) from the ones it still needs
    on_token: Callable[[str, int], None]
    parts: list[str] = field(default_factory=list)
    stats: ChatStats | None = None
    status: str = "running"
    error: str | None = None
    started: float | None = None  # monotonic: when it got a backend slot
    first_token_at: float | None = None  # wall clock, as stored
    first_token_clock: float | None = None  # monotonic
    ended: float | None = None  # monotonic: its last chunk, or when it was finished
    # applied to the text once it is done (the synthesis loses a label it starts with)
    tidy: Callable[[str], str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def outcome(self) -> dict[str, Any]:
        """The final state as the `*_done` events carry it."""
        return {"status": self.status, "error": self.error, "text": self.text,
                "stats": (self.stats or ChatStats()).summary()}

    def add_token(self, delta: str) -> bool:
        with self.lock:
            if self.status != "running":
                return False
            if self.first_token_at is None:
                self.first_token_at = time.time()
                self.first_token_clock = time.monotonic()
            self.parts.append(delta)
            self.on_token(delta, len(self.parts) - 1)
            return True

    def snapshot(self) -> dict[str, Any]:
        """Its text so far and how many deltas that is, taken between two tokens."""
        with self.lock:
            return {"status": self.status, "text": self.text, "tokens": len(self.parts)}

    def finish(self, status: str, error: str | None = None) -> bool:
        """Set its outcome once; an error may quote a library's text, so its URLs lose their
        credentials before anything shows or stores it."""
        with self.lock:
            if self.status != "running":
                return False
            if self.tidy is not None and status == "done":
                self.parts = [self.tidy(self.text)]
            self.status, self.error = status, error and redact_credentials(error)
            self.ended = self.ended or time.monotonic()
            return True

    def clock_start(self, others: list[Generation]) -> float | None:
        """When its timeout starts: when it got a slot, or later, when another generation ended
        while it still waited for its first token (a server that queues requests itself only
        turns to it then; ends up to QUEUE_HANDOVER_S after its first token count too)."""
        if self.started is None:
            return None
        waited_until = (self.first_token_clock + QUEUE_HANDOVER_S
                        if self.first_token_clock is not None else float("inf"))
        ends = [other.ended for other in others if other is not self
                and other.ended is not None and other.ended <= waited_until]
        return max([self.started, *ends])


def prepared_generation(row_id: int, model: str, build: Callable[[], list[ChatMessage]],
                        options: dict[str, Any], on_token: Callable[[str, int], None],
                        tidy: Callable[[str], str] | None = None) -> Generation:
    """A generation whose messages `build` makes. A prompt that cannot be built (its model is
    missing, or the question alone overflows the context window) fails that one generation,
    which then finishes through the same path as any other, not the whole round."""
    try:
        messages, failure = build(), None
    except LLMError as exc:
        messages, failure = [], str(exc)
    gen = Generation(row_id=row_id, model=model, messages=messages, options=options,
                     on_token=on_token, tidy=tidy)
    if failure:
        gen.finish("failed", failure)
    return gen


def usable_answers(gens: list[Generation]) -> list[Generation]:
    """Finished with text: what peer review and the synthesizer can work with."""
    return [gen for gen in gens if gen.status == "done" and gen.text.strip()]


@dataclass
class RoundControl:
    """What the rest of the app can do to a running round: ask it to stop."""

    round_id: int
    cancel: threading.Event = field(default_factory=threading.Event)
    changed: threading.Event = field(default_factory=threading.Event)
    branches: list[RoundControl] = field(default_factory=list)

    def stop(self) -> None:
        self.cancel.set()
        self.changed.set()
        for branch in list(self.branches):
            branch.changed.set()

    def branch(self) -> RoundControl:
        """A control for generations that stream beside the round's own stages (a compare
        round's solo answer): stopped with the round, but woken by its own generations only,
        since two `run_generations` loops clearing one `changed` could miss each other's
        wake-ups."""
        child = RoundControl(self.round_id, cancel=self.cancel)
        self.branches.append(child)
        return child


def stream_generation(backend: ChatBackend, gen: Generation, changed: threading.Event) -> None:
    """Stream one model answer into `gen`, stopping early once the round has finished it.

    It first waits for the backend to take it (a free slot, on one of a pool's servers); its
    timeout counts from then. An answer that starts repeating itself is ended there, its text
    kept, with the done reason "repeating" (`llm.repetition`).
    """
    loop = LoopDetector()
    try:
        with backend.reserve(give_up=lambda: gen.status != "running") as server:
            if server is None or gen.status != "running":
                return
            gen.started = time.monotonic()
            changed.set()  # the round thread now has a deadline to watch
            with closing(server.stream_chat(gen.model, gen.messages, gen.options)) as chunks:
                for chunk in chunks:
                    if isinstance(chunk, ChatStats):
                        gen.stats, gen.ended = chunk, time.monotonic()
                    elif not gen.add_token(chunk):
                        return
                    elif loop.feed(chunk):
                        gen.stats, gen.ended = stopped_stats(gen), time.monotonic()
                        break
        gen.finish("done")
    except LLMError as exc:
        gen.finish("failed", str(exc))
    except Exception as exc:  # a bug or an unexpected client error must not hang the round
        log.exception("generation for %s crashed", gen.model)
        gen.finish("failed", f"Unexpected error: {type(exc).__name__}: {exc}")
    finally:
        changed.set()


def stopped_stats(gen: Generation) -> ChatStats:
    """The stats of an answer the app ended itself (the backend sends none): a token per
    delta, timed from its slot and its first token."""
    now = time.monotonic()
    first = gen.first_token_clock
    return ChatStats(done_reason=REPEATING, eval_count=len(gen.parts),
                     eval_duration_ns=int((now - first) * 1e9) if first is not None else None,
                     total_duration_ns=int((now - gen.started) * 1e9) if gen.started else None)


def run_generations(backend: ChatBackend, control: RoundControl, gens: list[Generation],
                    timeout: float, max_parallel: int,
                    on_finish: Callable[[Generation], None]) -> None:
    """Run generations in parallel until each is done, failed, timed out or stopped.

    This thread enforces timeouts and the stop button itself, waking whenever a generation
    finishes, so a hung connection never holds the round. Timeouts count from
    `Generation.clock_start`: a worker queued behind others is not timed out for waiting.
    """
    pool = ThreadPoolExecutor(max_workers=min(max_parallel, len(gens)),
                              thread_name_prefix=f"round-{control.round_id}")
    try:
        for gen in gens:
            pool.submit(stream_generation, backend, gen, control.changed)
        pending = list(gens)
        while pending:
            control.changed.clear()
            now = time.monotonic()
            for gen in pending:
                start = gen.clock_start(gens)
                if control.cancel.is_set():
                    gen.finish("stopped", "Stopped by you; the partial answer is kept.")
                elif start is not None and now - start > timeout:
                    gen.finish("timeout", f"{gen.model} took longer than {timeout:g} s "
                                          f"(COUNCIL_WORKER_TIMEOUT / COUNCIL_SYNTH_TIMEOUT).")
            finished = [gen for gen in pending if gen.status != "running"]
            for gen in finished:
                on_finish(gen)
            pending = [gen for gen in pending if gen not in finished]
            if pending:
                starts = [g.clock_start(gens) for g in pending]
                deadlines = [start + timeout - now for start in starts if start is not None]
                control.changed.wait(min(deadlines, default=timeout) + 0.01)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
