"""History reaches each model trimmed to its context window, newest turns kept.

The fitting is tested here with a plain counter; tests/test_embedded.py runs it with a real
model's tokenizer and template.
"""

from __future__ import annotations

import re

import pytest

from council.llm.base import ChatMessage, PromptTooLong
from council.prompts import (LabelledAnswer, PastRound, strip_answer_label, synthesis_messages,
                             worker_messages)

HISTORY = [PastRound(f"question {i} " + "words " * 200, f"synthesis {i}", {7: f"own answer {i}"})
           for i in range(10)]


def count(messages: list[ChatMessage]) -> int:
    """About four characters a token, plus a few for each message's role markers."""
    return sum(len(m["content"]) // 4 + 4 for m in messages)


def test_worker_history_keeps_the_newest_turns_that_fit() -> None:
    messages = worker_messages("You are the Architect.", 7, HISTORY, "latest?", num_ctx=1500,
                               num_predict=500, count=count)
    assert messages[0]["role"] == "system" and messages[-1]["content"] == "latest?"
    assert count(messages) <= 1500 - 500
    kept = [m["content"] for m in messages if m["content"].startswith("own answer")]
    assert kept and kept[-1] == "own answer 9" and "own answer 0" not in kept
    # one more turn would not have fitted
    assert len(kept) < 10


def test_answer_room_is_at_most_half_a_small_window() -> None:
    messages = worker_messages("sys", 7, HISTORY, "latest?", num_ctx=800, num_predict=1024,
                               count=count)
    assert 400 - 320 < count(messages) <= 400  # half of 800 kept for the answer


def test_a_question_too_long_for_the_window_says_so() -> None:
    with pytest.raises(PromptTooLong, match="COUNCIL_NUM_CTX"):
        worker_messages("sys", 7, HISTORY, "long " * 2000, num_ctx=512, num_predict=64,
                        count=count)


def test_a_worker_without_an_earlier_answer_sees_the_synthesis_instead() -> None:
    messages = worker_messages("You are new.", 99, HISTORY[-1:], "next", num_ctx=8000,
                               num_predict=100, count=count)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "synthesis 9"


def test_synthesis_prompt_orders_answers_by_trust_without_names_or_figures() -> None:
    """A small model recites what the prompt labels ("Answer 1 (weight 0.88, rating 1000)"):
    the answers come most trusted first, with no name, weight or rating to copy."""
    answers = [LabelledAnswer("Architect", 0.3, "a" * 20_000, rating=1100.0),
               LabelledAnswer("Skeptic", 0.7, "b", peer_position=1.5)]
    messages = synthesis_messages(HISTORY, "the question", answers, num_ctx=4096, num_predict=1024,
                                  count=count)
    request = messages[-1]["content"]
    assert request.index("<draft>\nb\n") < request.index("<draft>\naaa")
    assert "[…]" in request
    assert not re.search(r"Architect|Skeptic|weight \d|rating \d|Answer \d|0\.70|1100", request)
    assert "peer rank" in request and "preferred" in request
    assert count(messages) <= 4096 - 1024


NAMES = ["The Learner (docker)", "Skeptic"]


@pytest.mark.parametrize(("written", "kept"), [
    ("The answer is: The Learner (docker) (weight 0.82)", ""),
    ("Answer 1 (weight 0.88, rating 1000)\n\nLearning French takes time.",
     "Learning French takes time."),
    ("### The Learner (docker) (weight 0.82)\nPractice daily.", "Practice daily."),
    ("**Answer:** Use tabs.", "Use tabs."),
    ("Skeptic: check the numbers first.", "check the numbers first."),
    ("(weight 0.5, rating 1012) Go.", "Go."),
    ("Answer 2:\n# Plan\nStart small.", "# Plan\nStart small."),
    ("<draft>\n- one\n- two\n</draft>", "- one\n- two"),
])
def test_a_label_the_synthesis_starts_with_is_taken_off(written: str, kept: str) -> None:
    assert strip_answer_label(written, NAMES) == kept


@pytest.mark.parametrize("written", [
    "The Learner should practise daily.", "Answer the phone first.", "The answer is 42.",
    "# Plan\nStart small.", "- one\n- two", "Weight loss needs a plan.",
    "Skeptics say otherwise.",
])
def test_an_answer_without_a_label_is_kept_as_written(written: str) -> None:
    assert strip_answer_label(written, NAMES) == written
