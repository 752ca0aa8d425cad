"""Scoring a checkable question with no judge: the final answer a reply gives, compared with
the expected one by exact match after normalisation, a number as a number.

The reply's final answer (`final_answer`):

1. the value on the last line that starts with "Answer:" or "Final answer:" (any case, with
   markdown around it: "**Answer:** 42", "`Answer: 42`", "### Answer: 42"); when nothing
   follows the colon, the next non-empty line. Reasoning inside <think>...</think> is not part
   of the reply.
2. only when the expected answer is a number and no such line exists: the last number on the
   reply's last non-empty line ("... so the total is 1,250."). A number earlier in the
   reasoning never counts: every shipped question asks for the answer at the end, and a model
   that ends on something else has not given one.

A reply with neither has no final answer and is wrong, never right.

`normalise`: Unicode compatibility forms (NFKC, "−" as a minus), `\\boxed{...}` and `$...$`
unwrapped, surrounding whitespace, quotes, markdown marks and end punctuation dropped, as is a
trailing remark in brackets ("42 (rounded)"), case folded, whitespace collapsed. Text that reads
as a number becomes its canonical form: "1,250", "1250.0" and "$1,250" all become "1250".

`parse_number`: an optional sign and currency sign; digits with comma thousands separators in
groups of three, a decimal part or an exponent, or a fraction a/b; then optionally "%", a degree
unit or up to three unit words ("12.5%", "42 km", "3.5 hours", "20 °C"; never "or", "and" and
the like: "3 or four" is no number). After an "=" only the part after the last one counts
("x = 42"). A percent sign is a unit like any other, so "12.5%" equals "12.5" (the questions
say which unit they want) but not "0.125". Number words ("four") are not read. Numbers are equal
within a relative 1e-9.
"""

from __future__ import annotations

import math
import re
import unicodedata
from fractions import Fraction

REL_TOL = 1e-9
ABS_TOL = 1e-12  # so that an expected 0 can be matched at all
EDGE_MARKS = "\"'“”‘’«»*_`"
END_PUNCTUATION = ".,;:!?"

_THINKING = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_ANSWER_LINE = re.compile(
    r"^[\s>#*_`-]*(?:final\s+)?answer[\s*_`]*[:：][\s*_`]*(?P<value>.*?)\s*$", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_REMARK = re.compile(r"\s+\([^()]*\)$")
_NUMBER = re.compile(r"""
    (?P<sign>[-+]?)\s*[$€£¥]?\s*(?P<sign_after>[-+]?)
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?   # 1,250.5
      |\d+/\d+                                # 3/4
      |(?:\d+(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?)  # 12, 12.5, .5, 1.5e3
    \s*(?P<unit>%|°\s*[cfk]|[^\W\d_]+(?:[\s/][^\W\d_]+){0,2})?
    """, re.VERBOSE)
# words that join two answers ("3 or four"), never a unit
NOT_UNITS = frozenset(("or", "and", "to", "not", "but", "plus", "minus", "times"))
# a number inside prose: not part of a word, a version or a longer number
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\w.,/])[-+]?[$€£¥]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+)?)"
    r"(?:\s*%)?(?!\w|[.,]\d)")


def final_answer(reply: str, numeric: bool = False) -> str | None:
    """The answer the reply ends with, as written (markdown around it removed), or None.

    `numeric`: the expected answer is a number, so a reply without an "Answer:" line may still
    end on one (the module's rule 2)."""
    lines = [line for line in _THINKING.sub("", reply).splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        found = _ANSWER_LINE.match(lines[index])
        if not found:
            continue
        value = _strip_edges(found["value"])
        if not value and index + 1 < len(lines):
            value = _strip_edges(lines[index + 1])
        return value or None
    if numeric and lines:
        numbers = _NUMBER_IN_TEXT.findall(lines[-1])
        return numbers[-1] if numbers else None
    return None


def normalise(text: str) -> str:
    """The form two answers are compared in (see the module's docstring)."""
    cleaned = _cleaned(text)
    value = parse_number(cleaned)
    return cleaned if value is None else _canonical(value)


def parse_number(text: str) -> float | None:
    """The number an answer states, or None when it is not (only) a number."""
    text = _cleaned(text).rpartition("=")[2].strip()
    found = _NUMBER.fullmatch(text)
    if not found or (found["sign"] and found["sign_after"]):
        return None
    if found["unit"] and NOT_UNITS.intersection(re.split(r"[\s/]", found["unit"])):
        return None
    digits = found["digits"].replace(",", "")
    numerator, slash, denominator = digits.partition("/")
    if slash:
        if int(denominator) == 0:
            return None
        value = float(Fraction(int(numerator), int(denominator)))
    else:
        value = float(digits)
    if not math.isfinite(value):
        return None
    return -value if "-" in (found["sign"], found["sign_after"]) else value


def is_correct(reply: str, expected: str) -> bool:
    """Whether the reply's final answer is the expected one: as numbers when the expected
    answer is one, else as normalised text. No final answer is wrong."""
    expected_number = parse_number(expected)
    given = final_answer(reply, numeric=expected_number is not None)
    if given is None:
        return False
    if expected_number is not None:
        value = parse_number(given)
        return value is not None and math.isclose(value, expected_number, rel_tol=REL_TOL,
                                                  abs_tol=ABS_TOL)
    answer = normalise(given)
    return bool(answer) and answer == normalise(expected)


def _strip_edges(text: str) -> str:
    """Whitespace and markdown marks off both ends, nothing else: the answer as written."""
    return text.strip().strip(EDGE_MARKS).strip()


def _cleaned(text: str) -> str:
    """Text normalisation without reading numbers (see `normalise`)."""
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-").replace("\u2044", "/")
    text = _BOXED.sub(r"\1", text)
    previous = None
    while text != previous:
        previous = text
        text = _REMARK.sub("", text.strip().strip(EDGE_MARKS).rstrip(END_PUNCTUATION))
        if len(text) > 1 and text[0] == text[-1] == "$":  # $...$: maths, not a currency
            text = text.strip("$")
    return " ".join(text.casefold().split())


def _canonical(value: float) -> str:
    """One spelling per number: "1250" for 1250.0, "0.75" for 3/4."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")
