"""The loop detector on scripted streams (no model): loops are caught early, text that repeats
on purpose (lists, tables, code) is not; a round's stream ends there, its text kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from council.llm.base import ChatStats
from council.llm.repetition import LoopDetector
from council.rounds.streams import Generation, stream_generation


def pieces(text: str, size: int = 4) -> Iterator[str]:
    """The text as a backend streams it: a few characters per delta."""
    return (text[i:i + size] for i in range(0, len(text), size))


def caught_at(text: str) -> int | None:
    """How many characters the detector had read when it called the text a loop."""
    detector = LoopDetector()
    read = 0
    for delta in pieces(text):
        read += len(delta)
        if detector.feed(delta):
            return read
    return None


SENTENCE = "The best way to learn a new language is to do it. "

LOOPS = {
    "one sentence again and again": "Learning takes time. " + SENTENCE * 40,
    "a numbered list of one item": "".join(f"{n}. Practice speaking with a friend.\n"
                                           for n in range(1, 40)),
    "two sentences taking turns with a third": "".join(
        f"{SENTENCE}It is fun to practice every day. Step {n} is next. " for n in range(20)),
    "a paragraph repeated": ("First, choose a language you like. Then find a course that "
                             "suits you and practice a little every single day.\n\n") * 8,
    "a phrase without punctuation": "and then we go " * 60,
    "a line of code forever": "```python\n" + "print('hello world')\n" * 60,
}

LEGITIMATE = {
    "a list with a shared start": "".join(
        f"- Learn the word for {word} in the new language.\n"
        for word in ("apple", "house", "car", "tree", "river", "school", "friend", "water")),
    "a Markdown table": "| Day | Task | Done |\n| --- | --- | --- |\n" + "".join(
        f"| {day} | Practice for 20 minutes | yes |\n" for day in ("Mon", "Tue"))
        + "| Wed | Read a chapter | yes |\n",
    "code whose lines repeat": "```python\n" + "".join(
        f"total += values[{i}]\n" for i in range(6)) + "x = 1\nx = 1\nx = 1\n"
        + "    }\n" * 5 + "```\n",
    "a rule and blank lines": "Intro\n\n" + "-" * 80 + "\n\n\n\n" + "=" * 60 + "\nEnd.",
    "a sentence quoted twice": SENTENCE + "Some say so. " + SENTENCE + "I agree.",
    "a long varied answer": " ".join(
        f"Point {n}: consider option {n * 7 % 11} because it costs {n * 3} euros." for n in
        range(60)),
    "a repeated short word": "Yes. Yes. Yes. I am sure.",
}


@pytest.mark.parametrize("name", LOOPS)
def test_loops_are_caught_within_a_few_copies(name: str) -> None:
    text = LOOPS[name]
    at = caught_at(text)
    assert at is not None, name
    assert at < len(text) * 0.6, f"{name}: caught only after {at} of {len(text)} characters"


@pytest.mark.parametrize("name", LEGITIMATE)
def test_text_that_repeats_on_purpose_is_not_a_loop(name: str) -> None:
    assert caught_at(LEGITIMATE[name]) is None, name


def test_a_sentence_is_caught_at_its_third_copy() -> None:
    at = caught_at(SENTENCE * 10)
    assert at is not None and 2 * len(SENTENCE) < at <= 3 * len(SENTENCE) + 4


class ScriptedServer:
    """Streams a scripted text, a few characters per delta, and notes whether it was closed
    early (what ends the generation on a real backend)."""

    kind = "scripted"

    def __init__(self, text: str) -> None:
        self.text, self.sent, self.closed = text, 0, False

    @contextmanager
    def reserve(self, give_up: Any = None) -> Iterator[ScriptedServer]:
        yield self

    def stream_chat(self, model: str, messages: Any, options: Any = None) -> Iterator[Any]:
        try:
            for delta in pieces(self.text):
                self.sent += len(delta)
                yield delta
            yield ChatStats(done_reason="length", eval_count=len(self.text))
        finally:
            self.closed = self.sent < len(self.text)


def streamed(text: str) -> tuple[Generation, ScriptedServer]:
    server = ScriptedServer(text)
    gen = Generation(row_id=1, model="scripted", messages=[], options={},
                     on_token=lambda delta, index: None)
    stream_generation(server, gen, threading.Event())  # type: ignore[arg-type]
    return gen, server


def test_a_looping_stream_is_ended_and_marked_with_its_text_kept() -> None:
    gen, server = streamed("Learning takes time. " + SENTENCE * 40)
    assert server.closed and gen.status == "done"
    assert gen.stats is not None and gen.stats.done_reason == "repeating"
    assert gen.stats.eval_count == len(gen.parts)
    assert gen.text.startswith("Learning takes time. " + SENTENCE * 2)
    assert len(gen.text) < len(SENTENCE) * 4
    assert gen.outcome()["stats"]["done_reason"] == "repeating"


def test_a_stream_that_does_not_loop_keeps_the_backends_ending() -> None:
    gen, server = streamed(LEGITIMATE["a long varied answer"])
    assert not server.closed and gen.text == LEGITIMATE["a long varied answer"]
    assert gen.stats is not None and gen.stats.done_reason == "length"
