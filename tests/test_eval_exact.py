"""Exact-match scoring of checkable questions: replies as models really write them."""

from __future__ import annotations

import pytest

from council.evaluation.exact import final_answer, is_correct, normalise, parse_number

RIGHT = [
    # (reply, expected)
    ("14 builds × 37 minutes = 518 minutes a week.\n518 × 6 = 3108.\n\nAnswer: 3108", "3108"),
    ("Let me work it out.\n\n**Answer:** 3,108", "3108"),
    ("**Answer: 3108**", "3108"),
    ("`Answer: 3108`", "3108"),
    ("### Final Answer: 3108 minutes", "3108"),
    ("- answer: 3108.", "3108"),
    ("ANSWER:\n\n**3108**", "3108"),
    ("Paperbacks 37.20, hardbacks 55.80, total 93.00.\nAnswer: 7.00", "7"),
    ("Answer: $1,250", "1250"),
    ("Answer: 1250.0", "1,250"),
    ("Answer: 12.5%", "12.5"),
    ("Answer: 12.5", "12.5%"),
    ("Answer: 12.5 percent", "12.5"),
    ("The change is negative.\nAnswer: -4", "-4"),
    ("Answer: −4", "-4"),
    ("Answer: 3/4", "0.75"),
    ("Answer: 0.75", "3/4"),
    ("Answer: t = 2.4", "2.4"),
    ("Answer: 2.4 hours", "2.4"),
    ("Answer: 37.8 °C", "37.8"),
    ("Answer: $\\boxed{60}$", "60"),
    ("Answer: 60 (euros)", "60"),
    ("Answer: 0.30000000000000004", "0.3"),
    ("Answer: False.", "False"),
    ("Answer: false", "False"),
    ("It prints the first item after sorting.\nAnswer: 'Apple'", "Apple"),
    ("Answer: \"empty\"", "empty"),
    ("Answer: Saturday.", "Saturday"),
    ("Answer: 2025-03-14", "2025-03-14"),
    ("Answer: 18:30", "18:30"),
    # the answer changed its mind: the last Answer line counts
    ("Answer: 58\nWait, I forgot the wine.\nAnswer: 60", "60"),
    # no Answer line, but the reply ends on the number
    ("48 + 12 = 60, so Sam pays 60 euros.", "60"),
    ("The total comes to 1,250.", "1250"),
    ("<think>Maybe 5? No: 4.</think>\nAnswer: 4", "4"),
]

WRONG = [
    # the right number appears only in the reasoning; the final answer is another
    ("518 × 6 = 3108, minus the two skipped builds.\nAnswer: 3034", "3108"),
    # the right number in the reasoning, and the reply ends on prose
    ("So the total is 3108 minutes.\nLet me know if you need anything else!", "3108"),
    ("", "3108"),
    ("I am not sure how to compute this.", "3108"),
    ("Answer:", "3108"),
    ("Answer: 4", "-4"),
    ("Answer: -4", "4"),
    ("Answer: 0.125", "12.5%"),
    ("Answer: 3 or 4", "3"),
    ("Answer: 3 or four", "3"),
    ("Answer: four", "4"),
    ("Answer: 1/0", "0"),
    ("Answer: 3108.5", "3108"),
    ("Answer: True", "False"),
    ("Answer: Yes", "True"),
    ("Answer: Sunday", "Saturday"),
    ("Answer: Apples", "Apple"),
    # the Answer line is only inside unfinished reasoning
    ("<think>Answer: 4 ... but check again", "4"),
    ("<think>Answer: 4</think>\nI could not decide.", "4"),
    # only a text expectation falls back to nothing: the last word is no answer
    ("The loop skips even numbers. It prints empty", "empty"),
]


@pytest.mark.parametrize(("reply", "expected"), RIGHT)
def test_right_answers_are_right(reply: str, expected: str) -> None:
    assert is_correct(reply, expected)


@pytest.mark.parametrize(("reply", "expected"), WRONG)
def test_wrong_or_missing_answers_are_wrong(reply: str, expected: str) -> None:
    assert not is_correct(reply, expected)


def test_final_answer_is_the_value_as_written() -> None:
    assert final_answer("Working...\n**Answer:** `1,250`") == "1,250"
    assert final_answer("Answer: 12\nAnswer: 14") == "14"
    assert final_answer("no answer line, ends on 42") is None
    assert final_answer("no answer line, ends on 42", numeric=True) == "42"
    assert final_answer("ends on a version 1.5.3", numeric=True) is None
    assert final_answer("It is 42 today.\nCheers", numeric=True) is None


def test_normalise_spells_each_number_once() -> None:
    assert normalise("1,250") == normalise("1250.0") == normalise("$1,250") == "1250"
    assert normalise("3/4") == "0.75"
    assert normalise("  **'Saturday'.** ") == "saturday"
    assert normalise("TRUE") == "true"
    assert normalise("2025-03-14") == "2025-03-14"  # a date is text, not a sum


def test_parse_number() -> None:
    assert parse_number("-12.5%") == -12.5
    assert parse_number("1.5e3") == 1500
    assert parse_number("42 km per hour") == 42
    assert parse_number("12,50") is None  # not a thousands separator
    assert parse_number("1e999") is None
    assert parse_number("--3") is None
    assert parse_number("version 2") is None
