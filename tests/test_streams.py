"""Streaming generations in parallel (council/rounds/streams.py) against a tiny scripted
backend: each generation finishes exactly once, timeouts and the stop button end it whatever
the model does, and a generation queued for a slot is not timed out for waiting. Real models
run the same code in test_rounds.py, test_embedded.py and test_llama_server.py."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timezone
from typing import Any

import pytest
from flask import Flask

from council.db import session_scope
from council.llm.base import ChatStats, ModelNotFound, OwnSlots, RequestSlots, StreamError
from council.models import WorkerAnswer
from council.rounds.store import RoundStore
from council.rounds.streams import (
    QUEUE_HANDOVER_S,
    Generation,
    RoundControl,
    prepared_generation,
    run_generations,
    usable_answers,
)
from tests.rows import new_round

STATS = ChatStats(done_reason="stop", prompt_eval_count=7, eval_count=2,
                  eval_duration_ns=1_000_000, total_duration_ns=3_000_000)


class ScriptedBackend(OwnSlots):
    """A ChatBackend whose models behave as their names say:

    `ok` answers "Hello world" then its stats; `fails` and `crashes` break after one token
    (an LLMError, then a bug); `hangs` sends one token, then waits for `release` (a model
    that went quiet) and would send one more.
    """

    kind, host, applies_adapters = "scripted", "memory", False

    def __init__(self, limit: int | None = None) -> None:
        self.slots = RequestSlots(limit)
        self.release = threading.Event()
        self.open_streams = 0
        self.streams_changed = threading.Condition()

    def stream_chat(self, model: str, messages: list[dict[str, str]],
                    options: dict[str, Any] | None = None) -> Iterator[str | ChatStats]:
        with self.streams_changed:
            self.open_streams += 1
        try:
            yield "Hello"
            if model == "fails":
                raise StreamError("the demo broke mid-answer")
            if model == "crashes":
                raise ZeroDivisionError("a bug")
            if model == "hangs":
                self.release.wait()
            yield " world"
            yield STATS
        finally:
            with self.streams_changed:
                self.open_streams -= 1
                self.streams_changed.notify_all()

    def all_streams_closed(self) -> bool:
        """Waits (10 s at most) until every stream opened so far has been closed."""
        with self.streams_changed:
            return self.streams_changed.wait_for(lambda: self.open_streams == 0, timeout=10)

    def count_tokens(self, model: str, messages: list[dict[str, str]]) -> int:
        return 0

    def close(self) -> None:
        self.release.set()


def generation(model: str, tokens: list[str] | None = None, row_id: int = 1,
               on_token: Callable[[str, int], None] | None = None) -> Generation:
    sink = tokens if tokens is not None else []
    return Generation(row_id=row_id, model=model, messages=[{"role": "user", "content": "Hi?"}],
                      options={}, on_token=on_token or (lambda delta, _: sink.append(delta)))


def run(backend: ScriptedBackend, gens: list[Generation], timeout: float = 30.0,
        control: RoundControl | None = None, max_parallel: int = 4,
        on_finish: Callable[[Generation], None] | None = None) -> list[Generation]:
    """`run_generations`; returns the generations in the order they were finished."""
    finished: list[Generation] = []

    def record(gen: Generation) -> None:
        finished.append(gen)
        if on_finish:
            on_finish(gen)

    try:
        run_generations(backend, control or RoundControl(round_id=1), gens, timeout,
                        max_parallel, record)
    finally:
        backend.release.set()
    return finished


# --- one generation --------------------------------------------------------------------------

def test_tokens_are_kept_and_passed_on_in_order_until_it_finishes() -> None:
    tokens: list[str] = []
    gen = generation("m", tokens)
    assert gen.first_token_at is None
    assert gen.add_token("Hel")
    first_token_at, first_token_clock = gen.first_token_at, gen.first_token_clock
    assert first_token_at is not None and first_token_clock is not None
    assert gen.add_token("lo")
    assert (gen.text, tokens) == ("Hello", ["Hel", "lo"])
    assert (gen.first_token_at, gen.first_token_clock) == (first_token_at, first_token_clock), \
        "the first token's time, not the latest"

    assert gen.finish("done")
    assert not gen.add_token(" late"), "nothing is added once it is finished"
    assert (gen.text, tokens) == ("Hello", ["Hel", "lo"])
    assert gen.outcome() == {"status": "done", "error": None, "text": "Hello",
                             "stats": ChatStats().summary()}


def test_only_the_first_finish_counts() -> None:
    gen = generation("m")
    assert gen.finish("timeout", "took too long")
    ended = gen.ended
    assert not gen.finish("done") and not gen.finish("stopped", "Stopped")
    assert (gen.status, gen.error, gen.ended) == ("timeout", "took too long", ended)


def test_racing_finishers_finish_it_exactly_once() -> None:
    """The streaming thread, the timeout and the stop button may all try at the same moment."""
    gen = generation("m")
    statuses = ["done", "failed", "timeout", "stopped"] * 4
    start = threading.Barrier(len(statuses))
    won: list[str] = []

    def finisher(status: str) -> None:
        start.wait()
        if gen.finish(status, status):
            won.append(status)

    threads = [threading.Thread(target=finisher, args=(s,)) for s in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and (gen.status, gen.error) == (won[0], won[0])


def test_the_timeout_clock_starts_when_the_model_turns_to_it() -> None:
    waiting, other, later = generation("a"), generation("b"), generation("c")
    assert waiting.clock_start([waiting, other]) is None, "no slot yet: no clock"
    waiting.started = 10.0
    assert waiting.clock_start([waiting]) == 10.0
    other.ended = 14.0  # another answer ended while this one still had no token
    later.ended = 10.5
    assert waiting.clock_start([waiting, other, later]) == 14.0
    waiting.first_token_clock, waiting.ended = 13.0, 11.5
    assert waiting.clock_start([waiting, other, later]) == 10.5, \
        "an end after its first token is not a hand-over to it, nor is its own end"
    other.ended = 13.0 + QUEUE_HANDOVER_S / 2
    assert waiting.clock_start([waiting, other, later]) == other.ended, \
        "an end just before its first token arrived is"
    other.ended = 5.0
    assert waiting.clock_start([waiting, other]) == 10.0, "an end before it had a slot is not"


def test_a_prompt_that_cannot_be_built_fails_only_its_generation() -> None:
    def overflowing() -> list[dict[str, str]]:
        raise ModelNotFound("Run `ollama pull qwen9:1b` first.")

    failed = prepared_generation(3, "qwen9:1b", overflowing, {"seed": 1}, lambda _: None)
    assert (failed.status, failed.error) == ("failed", "Run `ollama pull qwen9:1b` first.")
    assert failed.messages == [] and failed.row_id == 3
    built = prepared_generation(4, "m", lambda: [{"role": "user", "content": "Hi"}], {},
                                lambda _: None)
    assert built.status == "running" and built.messages == [{"role": "user", "content": "Hi"}]


def test_only_finished_answers_with_text_are_usable() -> None:
    done, blank, failed, running = (generation(m) for m in ("done", "blank", "failed", "run"))
    done.add_token("An answer")
    blank.add_token("  \n")
    failed.add_token("Half")
    for gen, status in ((done, "done"), (blank, "done"), (failed, "failed")):
        gen.finish(status)
    assert usable_answers([done, blank, failed, running]) == [done]


def test_stop_wakes_the_round() -> None:
    control = RoundControl(round_id=9)
    assert not control.cancel.is_set() and not control.changed.is_set()
    control.stop()
    assert control.cancel.is_set() and control.changed.is_set()


# --- several at once -------------------------------------------------------------------------

def test_each_generation_finishes_once_with_its_own_outcome() -> None:
    backend = ScriptedBackend()
    tokens: list[str] = []
    gens = [generation("ok", tokens, 1), generation("fails", row_id=2),
            generation("crashes", row_id=3), generation("ok", row_id=4)]
    finished = run(backend, gens)
    assert sorted(g.row_id for g in finished) == [1, 2, 3, 4], "each reported once"
    ok, fails, crashes, _ = gens
    assert (ok.status, ok.text, ok.stats, tokens) == ("done", "Hello world", STATS,
                                                      ["Hello", " world"])
    assert (fails.status, fails.error, fails.text) == ("failed", "the demo broke mid-answer",
                                                       "Hello")
    assert crashes.status == "failed"
    assert crashes.error == "Unexpected error: ZeroDivisionError: a bug"
    assert gens[3].status == "done"


def test_a_generation_that_goes_quiet_times_out_and_keeps_its_partial_text() -> None:
    backend = ScriptedBackend()
    quiet, ok = generation("hangs", row_id=1), generation("ok", row_id=2)
    finished = run(backend, [quiet, ok], timeout=0.5)
    assert sorted(g.row_id for g in finished) == [1, 2]
    assert (quiet.status, quiet.text) == ("timeout", "Hello")
    assert quiet.error == ("hangs took longer than 0.5 s "
                           "(COUNCIL_WORKER_TIMEOUT / COUNCIL_SYNTH_TIMEOUT).")
    assert ok.status == "done"
    assert backend.all_streams_closed(), "the quiet stream is closed once it speaks again"
    assert quiet.text == "Hello", "what it sent after its timeout is not added"


def test_stop_mid_answer_keeps_what_was_streamed() -> None:
    backend = ScriptedBackend()
    control = RoundControl(round_id=1)
    first = generation("hangs", row_id=1, on_token=lambda *_: control.stop())
    second = generation("hangs", row_id=2)
    finished = run(backend, [first, second], control=control)
    assert sorted(g.row_id for g in finished) == [1, 2]
    for gen in (first, second):
        assert gen.status == "stopped"
        assert gen.error == "Stopped by you; the partial answer is kept."
    assert first.text == "Hello"
    assert backend.all_streams_closed()


def test_stop_also_ends_the_generations_still_queued_for_a_slot() -> None:
    backend = ScriptedBackend(limit=1)
    control = RoundControl(round_id=1)
    control.stop()
    gens = [generation("hangs", row_id=n) for n in range(3)]
    assert len(run(backend, gens, control=control)) == 3
    assert [g.status for g in gens] == ["stopped"] * 3
    assert sum(g.started is not None for g in gens) <= 1, "the others never got the slot"


def test_a_queued_generation_is_not_timed_out_for_waiting() -> None:
    """One slot: the second waits while the first holds it past the timeout; its own clock
    only starts when it gets the slot, so it still answers."""
    backend = ScriptedBackend(limit=1)
    holder, queued = generation("hangs", row_id=1), generation("ok", row_id=2)

    def on_finish(gen: Generation) -> None:
        if gen is holder:
            backend.release.set()  # the quiet model lets go of its slot only now

    run(backend, [holder, queued], timeout=0.5, on_finish=on_finish)
    assert holder.status == "timeout"
    assert (queued.status, queued.text) == ("done", "Hello world")
    assert queued.started is not None and holder.ended is not None
    assert queued.started >= holder.ended, "it got the slot only after the holder timed out"


# --- the row it lands on ---------------------------------------------------------------------

@pytest.fixture
def answer_id(app: Flask) -> int:
    with session_scope(app) as session:
        answer = WorkerAnswer(round_id=new_round(session, "Hi?").id, persona_name="Architect",
                              model="ok")
        session.add(answer)
        session.flush()
        return answer.id


def test_a_finished_generation_is_saved_on_its_row(app: Flask, answer_id: int) -> None:
    gen = generation("ok", row_id=answer_id)
    gen.add_token("Hello")
    gen.stats = STATS
    gen.finish("done")
    RoundStore(app).save(WorkerAnswer, gen, weight=0.25)
    with session_scope(app) as session:
        row = session.get(WorkerAnswer, answer_id)
        assert (row.status, row.error, row.text, row.weight) == ("done", None, "Hello", 0.25)
        assert (row.done_reason, row.prompt_eval_count, row.eval_count, row.eval_duration_ns,
                row.total_duration_ns) == ("stop", 7, 2, 1_000_000, 3_000_000)
        stored = row.first_token_at.replace(tzinfo=timezone.utc).timestamp()
        assert stored == pytest.approx(gen.first_token_at, abs=1e-3)
        assert row.finished_at is not None


def test_a_generation_without_tokens_or_stats_saves_empty_stats(app: Flask,
                                                                answer_id: int) -> None:
    gen = generation("ok", row_id=answer_id)
    gen.finish("failed", "Cannot reach the model")
    RoundStore(app).save(WorkerAnswer, gen)
    with session_scope(app) as session:
        row = session.get(WorkerAnswer, answer_id)
        assert (row.status, row.error, row.text) == ("failed", "Cannot reach the model", "")
        assert row.first_token_at is None and row.eval_count is None


def test_a_row_deleted_meanwhile_is_left_alone(app: Flask, answer_id: int) -> None:
    with session_scope(app) as session:
        session.delete(session.get(WorkerAnswer, answer_id))
    gen = generation("ok", row_id=answer_id)
    gen.finish("done")
    RoundStore(app).save(WorkerAnswer, gen)
    with session_scope(app) as session:
        assert session.get(WorkerAnswer, answer_id) is None
