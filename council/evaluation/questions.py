"""The questions `council eval` asks: the set the project ships, or a JSON Lines file of the
user's own.

A question set is JSON Lines, one object per line:

    {"question": "How many seconds are there in 3.5 hours? ...", "answer": "12600",
     "category": "checkable"}

`question` (required, non-empty, at most `MAX_QUESTION_CHARS`), `answer` (optional: a string or
a JSON number, kept as the text it was written as) and `category` (optional string). A question
with an answer is *checkable*: it is scored by exact match (`exact.py`), with no judge. Other keys
are refused rather than ignored, so a misspelt `"answers"` cannot quietly turn a checkable
question into a judged one; a question asked twice is refused too, since it would count twice.

The shipped set (`question_set.jsonl`, `SHIPPED`) was written for this project: its categories
are `CATEGORIES`, one open kind for each shipped persona (design: the Architect, debugging: the
Skeptic, what-if: the Explorer, practical: the Pragmatist) and `checkable` for the questions
with one right answer (arithmetic word problems, unit conversions, dates and percentages, what a
short Python snippet prints), each of which asks the model to end with an "Answer: ..." line.
The lines are interleaved so that any prefix (`--limit`) mixes kinds: every six questions hold
two checkable ones and one of each open kind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SHIPPED = "shipped"  # the name `--questions` and the stored runs give the shipped set
SHIPPED_FILE = "question_set.jsonl"
CATEGORIES = ("design", "debugging", "what-if", "practical", "checkable")
MAX_QUESTION_CHARS = 20_000
KEYS = ("question", "answer", "category")
EXAMPLE_LINE = '{"question": "How many minutes are in 2.5 hours?", "answer": "150"}'


@dataclass(frozen=True)
class Question:
    question: str
    answer: str | None = None
    category: str = ""

    @property
    def key(self) -> str:
        """Stable id of the question and its expected answer: the database caches answers by
        it, so editing either asks again instead of reusing a stale answer."""
        payload = json.dumps([self.question, self.answer], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    @property
    def checkable(self) -> bool:
        """Scored by exact match of the final answer, not by a judge."""
        return self.answer is not None


class QuestionSetError(ValueError):
    """A question file that cannot be used; the message names the file, the line and the fix."""


class _Number(str):
    """A JSON number kept as the text it was written as ("1.50" stays "1.50")."""


def shipped_questions() -> list[Question]:
    """The project's own question set, read from the installed package."""
    with resources.as_file(resources.files(__package__).joinpath(SHIPPED_FILE)) as path:
        return load_questions(path)


def load_questions(path: Path) -> list[Question]:
    """Every question of a JSON Lines file, in file order; blank lines are skipped."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise QuestionSetError(f"{path} does not exist: give the path of a JSON Lines file "
                               f"of questions.") from None
    except IsADirectoryError:
        raise QuestionSetError(f"{path} is a folder: give the path of a JSON Lines file "
                               f"of questions.") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise QuestionSetError(f"{path} line {line}: not UTF-8 text. Save the file as "
                               f"UTF-8.") from None
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        question = _parse_line(line, f"{path} line {number}")
        same = " ".join(question.question.split())
        if same in first_line:
            raise QuestionSetError(f"{path} line {number}: the same question as line "
                                   f"{first_line[same]}. Remove one of them.")
        first_line[same] = number
        questions.append(question)
    if not questions:
        raise QuestionSetError(f"{path} holds no questions: write one JSON object per line, "
                               f"such as {EXAMPLE_LINE}")
    return questions


def _parse_line(line: str, where: str) -> Question:
    """One line as a Question, or a QuestionSetError saying what is wrong with it."""
    try:
        row = json.loads(line, parse_int=_Number, parse_float=_Number,
                         parse_constant=_refuse_constant)
    except ValueError as exc:
        raise QuestionSetError(f"{where}: not valid JSON ({exc}). Each line must be one "
                               f"JSON object, such as {EXAMPLE_LINE}") from None
    if not isinstance(row, dict):
        raise QuestionSetError(f"{where}: a JSON {type(row).__name__} where an object is "
                               f"needed, such as {EXAMPLE_LINE}")
    unknown = sorted(set(row) - set(KEYS))
    if unknown:
        raise QuestionSetError(f"{where}: unknown key {unknown[0]!r}; a line may hold only "
                               f"{', '.join(KEYS)}.")
    question = row.get("question")
    if not isinstance(question, str) or isinstance(question, _Number) or not question.strip():
        raise QuestionSetError(f"{where}: \"question\" must be a non-empty string.")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionSetError(f"{where}: the question is {len(question):,} characters; "
                               f"shorten it to at most {MAX_QUESTION_CHARS:,}.")
    return Question(question.strip(), _answer(row.get("answer"), where),
                    _category(row.get("category", ""), where))


def _answer(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise QuestionSetError(f"{where}: \"answer\" must be a non-empty string or a number "
                               f"(leave it out for a question without one right answer).")
    return str(value).strip()


def _category(value: Any, where: str) -> str:
    if not isinstance(value, str) or isinstance(value, _Number):
        raise QuestionSetError(f"{where}: \"category\" must be a string, such as "
                               f"{CATEGORIES[0]!r}.")
    return value.strip()


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a question set can hold")
