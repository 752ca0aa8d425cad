"""History reaches each model trimmed to its context window, newest turns kept."""

from __future__ import annotations

from council.prompts import (LabelledAnswer, PastRound, estimate_tokens, synthesis_messages,
                             worker_messages)

HISTORY = [PastRound(f"question {i} " + "words " * 200, f"synthesis {i}", {7: f"own answer {i}"})
           for i in range(10)]


def test_worker_history_keeps_the_newest_turns_that_fit() -> None:
    messages = worker_messages("You are the Architect.", 7, HISTORY, "latest?", num_ctx=1500,
                               num_predict=500)
    assert messages[0]["role"] == "system" and messages[-1]["content"] == "latest?"
    assert sum(estimate_tokens(m["content"]) for m in messages) <= 1500 - 500
    kept = [m["content"] for m in messages if m["content"].startswith("own answer")]
    assert kept and kept[-1] == "own answer 9" and "own answer 0" not in kept


def test_a_worker_without_an_earlier_answer_sees_the_synthesis_instead() -> None:
    messages = worker_messages("You are new.", 99, HISTORY[-1:], "next", num_ctx=8000,
                               num_predict=100)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "synthesis 9"


def test_synthesis_prompt_labels_answers_with_weights_and_cuts_long_ones() -> None:
    answers = [LabelledAnswer("Architect", 0.5, "a" * 20_000), LabelledAnswer("Skeptic", 0.5, "b")]
    messages = synthesis_messages(HISTORY, "the question", answers, num_ctx=4096, num_predict=1024)
    request = messages[-1]["content"]
    assert "### Architect (weight 0.50)" in request and "### Skeptic (weight 0.50)\nb" in request
    assert "[…]" in request
    assert sum(estimate_tokens(m["content"]) for m in messages) <= 4096 - 1024
