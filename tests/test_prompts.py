"""History reaches each model trimmed to its context window, newest turns kept.

The fitting is tested here with a plain counter; tests/test_embedded.py runs it with a real
model's tokenizer and template.
"""

from __future__ import annotations

import pytest

from council.llm.base import ChatMessage, PromptTooLong
from council.prompts import LabelledAnswer, PastRound, synthesis_messages, worker_messages

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


def test_synthesis_prompt_labels_answers_with_weights_and_cuts_long_ones() -> None:
    answers = [LabelledAnswer("Architect", 0.5, "a" * 20_000), LabelledAnswer("Skeptic", 0.5, "b")]
    messages = synthesis_messages(HISTORY, "the question", answers, num_ctx=4096, num_predict=1024,
                                  count=count)
    request = messages[-1]["content"]
    assert "### Architect (weight 0.50)" in request and "### Skeptic (weight 0.50)\nb" in request
    assert "[…]" in request
    assert count(messages) <= 4096 - 1024
