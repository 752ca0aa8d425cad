"""The eval driver: every contestant answers every question, then a judge compares every pair
of answers to each open question in both orders; checkable questions are scored by exact
match and never judged.

Each answer and each judgement is committed as it comes (`EvalAnswer`, `EvalJudgement`), keyed
by what produced it, so a stopped or killed eval resumes where it was, a second judge reuses
the answers, and nothing is asked twice. Failed answers are not kept: the next run asks again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select

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
    """What this run asked and what it found already asked, and when a model was at work
    (the eval benchmark sets that time against the wall time)."""

    answers_new: int = 0
    answers_cached: int = 0
    judgements_new: int = 0
    judgements_cached: int = 0
    spans: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def busy(self, started: float, ended: float) -> None:
        with self.lock:
            self.spans.append((started, ended))

    def count_judgement(self) -> None:
        with self.lock:
            self.judgements_new += 1

    @property
    def model_seconds(self) -> float:
        """Seconds in which at least one model call ran (overlapping calls counted once)."""
        total, reach = 0.0, float("-inf")
        for started, ended in sorted(self.spans):
            if ended > reach:
                total += ended - max(started, reach)
                reach = ended
        return total

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
             stopping: Callable[[], bool] = lambda: False,
             fresh: bool = False) -> EvalResult | None:
    """Answer, then judge; None when `stopping` said to stop (what was done is kept).
    `fresh` asks every answer again (and so every verdict on it) instead of reusing it."""
    tally = EvalTally()
    keys = {c.name: c.key for c in contestants}
    rows = _answer_all(sessions, questions, contestants, keys, progress, stopping, tally,
                       fresh)
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
                stopping: Callable[[], bool], tally: EvalTally,
                fresh: bool) -> dict[tuple[str, str], EvalAnswer] | None:
    """Every (question, contestant) answer, from the cache or asked now, question by question
    so a stopped run leaves whole questions behind."""
    with sessions() as session:
        cached = {} if fresh else {
            (row.question_key, row.contestant_key): row for row in session.scalars(
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
                started = time.monotonic()
                answer = contestant.answer(question.question)
                tally.busy(started, time.monotonic())
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
    """Keep an answer (a failed one is asked again next run); one asked again replaces the
    stored one, and the verdicts on the old text go with it."""
    with sessions() as session:
        row = session.scalar(select(EvalAnswer).where(EvalAnswer.question_key == question.key,
                                                      EvalAnswer.contestant_key == key))
        if row is None:
            row = EvalAnswer(question_key=question.key, contestant_key=key)
            session.add(row)
        else:
            session.execute(delete(EvalJudgement).where(or_(EvalJudgement.first_id == row.id,
                                                            EvalJudgement.second_id == row.id)))
        row.contestant, row.status, row.error = name, answer.status, answer.error
        row.text, row.seconds, row.tokens = answer.text, answer.seconds, answer.tokens
        session.flush()
        return row


def _judge_all(sessions: SessionScope, questions: Sequence[Question],
               contestants: Sequence[Contestant], rows: dict[tuple[str, str], EvalAnswer],
               judge: JudgeModel, progress: Progress, stopping: Callable[[], bool],
               tally: EvalTally) -> list[PairRecord] | None:
    """Both orders of every pair of successful answers to each open question; the judgements
    not cached are asked several at once (COUNCIL_MAX_PARALLEL), as a round's workers are,
    since a server or the engine answers several requests faster than one after another."""
    work = [(q, a.name, b.name) for q in questions
            for a, b in itertools.combinations(contestants, 2)
            if rows[(q.key, a.name)].status == "done" and rows[(q.key, b.name)].status == "done"]
    orders = [(question, rows[(question.key, shown_first)], rows[(question.key, shown_second)])
              for question, a, b in work for shown_first, shown_second in ((a, b), (b, a))]
    with sessions() as session:
        verdicts = {(row.first_id, row.second_id): row.verdict for row in session.scalars(
            select(EvalJudgement).where(EvalJudgement.judge_key == judge.key))}
    todo = [order for order in orders if (order[1].id, order[2].id) not in verdicts]
    tally.judgements_cached += len(orders) - len(todo)
    lock = threading.Lock()
    done = [len(orders) - len(todo)]
    progress("judge", done[0], len(orders))

    def judge_order(order: tuple[Question, EvalAnswer, EvalAnswer]) -> bool:
        if stopping():
            return False
        row = _judge(sessions, judge, *order, tally)
        with lock:
            verdicts[(row.first_id, row.second_id)] = row.verdict
            done[0] += 1
            progress("judge", done[0], len(orders))
        return True

    with ThreadPoolExecutor(max_workers=max(1, min(judge.settings.max_parallel_workers,
                                                   len(todo))),
                            thread_name_prefix="eval-judge") as pool:
        if not all(list(pool.map(judge_order, todo))):
            return None
    pairs = []
    for question, a, b in work:
        first, second = rows[(question.key, a)], rows[(question.key, b)]
        outcome = pair_outcome(verdicts[(first.id, second.id)], verdicts[(second.id, first.id)])
        pairs.append(PairRecord(question.key, a, b, outcome.score, outcome.consistent,
                                len(first.text) - len(second.text)))
    return pairs


def _judge(sessions: SessionScope, judge: JudgeModel, question: Question, first: EvalAnswer,
           second: EvalAnswer, tally: EvalTally) -> EvalJudgement:
    started = time.monotonic()
    judgement = judge_once(judge.ask, question.question, first.text, second.text)
    tally.busy(started, time.monotonic())
    with sessions() as session:
        row = EvalJudgement(judge_key=judge.key, first_id=first.id, second_id=second.id,
                            verdict=judgement.verdict, attempts=judgement.attempts,
                            reply=judgement.reply)
        session.add(row)
    tally.count_judgement()
    return row
