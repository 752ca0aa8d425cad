"""The eval driver: every contestant answers every question, then a judge compares every pair
of answers to each open question in both orders; checkable questions are scored by exact
match and never judged.

Each answer and each judgement is committed as it comes (`EvalAnswer`, `EvalJudgement`), keyed
by what produced it, so a stopped or killed eval resumes where it was, a second judge reuses
the answers, and nothing is asked twice. Failed answers are not kept: the next run asks again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from ..config import Settings
from ..llm.base import ChatBackend, ChatMessage
from ..models import EvalAnswer, EvalJudgement
from ..rounds.streams import RoundControl, prepared_generation, run_generations
from .contestants import Answer, Contestant, SessionScope
from .exact import is_correct
from .judge import JUDGE_TEMPERATURE, judge_key, judge_once, pair_outcome
from .questions import Question
from .report import AnswerRecord, PairRecord

Progress = Callable[[str, int, int], None]


class EvalError(RuntimeError):
    """An eval that cannot go on (the judge does not answer); what it did so far is kept."""


@dataclass(frozen=True)
class JudgeModel:
    """The model that compares answers, on the synthesizer's backend, deterministic."""

    backend: ChatBackend
    settings: Settings
    model: str

    @property
    def key(self) -> str:
        return judge_key(self.model)

    def ask(self, messages: list[ChatMessage]) -> str:
        s = self.settings
        gen = prepared_generation(0, self.model, lambda: messages,
                                  {"num_ctx": s.num_ctx, "num_predict": s.num_predict,
                                   "temperature": JUDGE_TEMPERATURE},
                                  lambda _delta, _index: None)
        run_generations(self.backend, RoundControl(0), [gen], s.synth_timeout, 1,
                        lambda _gen: None)
        if gen.status != "done":
            raise EvalError(f"The judge ({self.model}) did not answer: {gen.error or gen.status}."
                            " Run the eval again to resume once it answers.")
        return gen.text


@dataclass
class EvalTally:
    """What this run asked and what it found already asked; the seconds spent inside model
    calls, which the eval benchmark sets against the wall time."""

    answers_new: int = 0
    answers_cached: int = 0
    judgements_new: int = 0
    judgements_cached: int = 0
    model_seconds: float = 0.0

    def figures(self) -> dict[str, int]:
        return {"answers_new": self.answers_new, "answers_cached": self.answers_cached,
                "judgements_new": self.judgements_new,
                "judgements_cached": self.judgements_cached}


@dataclass
class EvalResult:
    answers: list[AnswerRecord]
    pairs: list[PairRecord]
    tally: EvalTally = field(default_factory=EvalTally)


def run_eval(sessions: SessionScope, questions: Sequence[Question],
             contestants: Sequence[Contestant], judge: JudgeModel, progress: Progress,
             stopping: Callable[[], bool] = lambda: False) -> EvalResult | None:
    """Answer, then judge; None when `stopping` said to stop (what was done is kept)."""
    tally = EvalTally()
    keys = {c.name: c.key for c in contestants}
    rows = _answer_all(sessions, questions, contestants, keys, progress, stopping, tally)
    if rows is None:
        return None
    answers = [_record(q, c.name, rows[(q.key, c.name)]) for q in questions
               for c in contestants]
    pairs = _judge_all(sessions, [q for q in questions if q.answer is None], contestants, rows,
                       judge, progress, stopping, tally)
    return None if pairs is None else EvalResult(answers, pairs, tally)


def _record(question: Question, contestant: str, row: EvalAnswer) -> AnswerRecord:
    """An answer as the report counts it; a failed answer to a checkable question is wrong."""
    correct = None if question.answer is None else (
        row.status == "done" and is_correct(row.text, question.answer))
    return AnswerRecord(question.key, contestant, row.status, row.text, row.seconds,
                        row.tokens, correct)


def _answer_all(sessions: SessionScope, questions: Sequence[Question],
                contestants: Sequence[Contestant], keys: dict[str, str], progress: Progress,
                stopping: Callable[[], bool],
                tally: EvalTally) -> dict[tuple[str, str], EvalAnswer] | None:
    """Every (question, contestant) answer, from the cache or asked now, question by question
    so a stopped run leaves whole questions behind."""
    with sessions() as session:
        cached = {(row.question_key, row.contestant_key): row for row in session.scalars(
            select(EvalAnswer).where(EvalAnswer.question_key.in_([q.key for q in questions]),
                                     EvalAnswer.status == "done"))}
    rows: dict[tuple[str, str], EvalAnswer] = {}
    total, done = len(questions) * len(contestants), 0
    progress("answer", 0, total)
    for question in questions:
        for contestant in contestants:
            row = cached.get((question.key, keys[contestant.name]))
            if row is None:
                if stopping():
                    return None
                answer = contestant.answer(question.question)
                tally.model_seconds += answer.seconds
                row = _store_answer(sessions, question, contestant.name, keys[contestant.name],
                                    answer)
                tally.answers_new += 1
            else:
                tally.answers_cached += 1
            rows[(question.key, contestant.name)] = row
            done += 1
            progress("answer", done, total)
    return rows


def _store_answer(sessions: SessionScope, question: Question, name: str, key: str,
                  answer: Answer) -> EvalAnswer:
    """Keep an answer (a failed one replaces nothing good and is asked again next run)."""
    with sessions() as session:
        row = session.scalar(select(EvalAnswer).where(EvalAnswer.question_key == question.key,
                                                      EvalAnswer.contestant_key == key))
        if row is None:
            row = EvalAnswer(question_key=question.key, contestant_key=key)
            session.add(row)
        row.contestant, row.status, row.error = name, answer.status, answer.error
        row.text, row.seconds, row.tokens = answer.text, answer.seconds, answer.tokens
        session.flush()
        return row


def _judge_all(sessions: SessionScope, questions: Sequence[Question],
               contestants: Sequence[Contestant], rows: dict[tuple[str, str], EvalAnswer],
               judge: JudgeModel, progress: Progress, stopping: Callable[[], bool],
               tally: EvalTally) -> list[PairRecord] | None:
    """Both orders of every pair of successful answers to each open question."""
    work = [(q, a, b) for q in questions for a, b in itertools.combinations(contestants, 2)
            if rows[(q.key, a.name)].status == "done" and rows[(q.key, b.name)].status == "done"]
    with sessions() as session:
        cached = {(row.first_id, row.second_id): row for row in session.scalars(
            select(EvalJudgement).where(EvalJudgement.judge_key == judge.key))}
    total, done = 2 * len(work), 0
    progress("judge", 0, total)
    pairs = []
    for question, a, b in work:
        first, second = rows[(question.key, a.name)], rows[(question.key, b.name)]
        verdicts = []
        for shown_first, shown_second in ((first, second), (second, first)):
            row = cached.get((shown_first.id, shown_second.id))
            if row is None:
                if stopping():
                    return None
                row = _judge(sessions, judge, question, shown_first, shown_second, tally)
            else:
                tally.judgements_cached += 1
            verdicts.append(row.verdict)
            done += 1
            progress("judge", done, total)
        outcome = pair_outcome(*verdicts)
        pairs.append(PairRecord(question.key, a.name, b.name, outcome.score,
                                outcome.consistent, len(first.text) - len(second.text)))
    return pairs


def _judge(sessions: SessionScope, judge: JudgeModel, question: Question, first: EvalAnswer,
           second: EvalAnswer, tally: EvalTally) -> EvalJudgement:
    started = time.monotonic()
    judgement = judge_once(judge.ask, question.question, first.text, second.text)
    tally.model_seconds += time.monotonic() - started
    tally.judgements_new += 1
    with sessions() as session:
        row = EvalJudgement(judge_key=judge.key, first_id=first.id, second_id=second.id,
                            verdict=judgement.verdict, attempts=judgement.attempts,
                            reply=judgement.reply)
        session.add(row)
        return row
