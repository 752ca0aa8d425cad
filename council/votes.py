"""Votes: the user's judgement on a round, turned into pairwise outcomes and router lessons.

A round has at most one verdict, `best` (one answer beats every other answer shown) or `tie`
(every answer shown counts half a win against each other); changing it replaces the old one,
and repeating it undoes it. Thumbs down (`down`) are per answer and toggle; best and thumbs
down on the same answer exclude each other. A stopped answer counts with the text it got to. Every vote keeps the router's weights of that
round; the router learns from it at once (the winner is a positive label for the message, the
answers it beat and a thumbs-down answer negative ones).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from itertools import combinations
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from .errors import NotFound
from .models import AppState, Persona, Round, RoutingExample, Vote, WorkerAnswer
from .ratings import PairOutcome
from .router import Router

VOTE_KINDS = ("best", "down", "tie")
VERDICTS = ("best", "tie")  # the votes that compare answers (thumbs down only teach the router)
T = TypeVar("T")
RESET_KEY = "router_reset_after_vote"


class VoteError(ValueError):
    """A vote that cannot be recorded; the message says why."""


class RoundNotFound(VoteError, NotFound):
    """The round voted on does not exist (its conversation was deleted)."""


def votable_answers(round_: Round) -> list[WorkerAnswer]:
    """Answers the user saw: finished ones, and the text a stopped answer got to. These can
    win or lose; failed and empty answers cannot."""
    return [a for a in round_.answers if a.persona_id is not None and (
        a.status == "done" or (a.status == "stopped" and a.text.strip()))]


def record_vote(session: Session, router: Router, round_id: int, kind: str,
                answer_id: int | None = None, blind: bool = False) -> Vote | None:
    """Record a vote and teach the router; the same vote again undoes it (returning None).

    Best and thumbs down exclude each other on one answer: either replaces the other. `blind`
    says the persona names and colours were hidden when the user chose.
    """
    if kind not in VOTE_KINDS:
        raise VoteError(f"Unknown vote {kind!r}; use one of {', '.join(VOTE_KINDS)}.")
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise RoundNotFound("That round no longer exists.")
    if round_.status == "running":
        raise VoteError("Wait for the round to finish before voting.")
    answered = votable_answers(round_)
    answer = None
    if kind in ("best", "down"):
        answer = next((a for a in round_.answers if a.id == answer_id), None)
        if answer is None:
            raise VoteError("That answer is not part of this round.")
        if answer not in answered:
            raise VoteError(f"{answer.persona_name}'s answer has no text to judge "
                            f"({answer.status}); only answers you saw can be voted on.")
    elif len(answered) < 2:
        raise VoteError("A tie needs at least two answers to compare.")

    votes = list(session.scalars(select(Vote).where(Vote.round_id == round_id)))
    repeated = next((v for v in votes if v.kind == kind and v.answer_id == answer_id), None)
    replaced = [v for v in votes if v is not repeated and (
        (kind in VERDICTS and v.kind in VERDICTS)
        or (answer_id is not None and v.answer_id == answer_id))]
    for old in ([repeated] if repeated else []) + replaced:
        _retract(session, router, old)
    if repeated is not None:
        return None

    weights = {str(d["persona_id"]): d["weight"]
               for d in (round_.routing or {}).get("decisions", [])}
    vote = Vote(round_id=round_id, kind=kind, answer_id=answer.id if answer else None,
                persona_id=answer.persona_id if answer else None, weights=weights, blind=blind)
    session.add(vote)
    session.flush()
    labels: dict[int, int] = {}
    if kind == "best" and answer is not None:
        labels = {a.persona_id: (1 if a.id == answer.id else -1) for a in answered}
    elif kind == "down" and answer is not None:
        labels = {answer.persona_id: -1}
    if labels:
        router.learn(session, vote.id, router.embed(round_.user_message), labels)
    return vote


def _retract(session: Session, router: Router, vote: Vote) -> None:
    """Remove a vote and what the gate learned from it (the gate is rebuilt from what stays)."""
    had_examples = session.scalar(select(RoutingExample.id).where(
        RoutingExample.vote_id == vote.id)) is not None
    session.execute(delete(RoutingExample).where(RoutingExample.vote_id == vote.id))
    session.delete(vote)
    session.flush()
    if had_examples:
        router.load(session)


class VoteFigures:
    """Figures derived from every vote (ratings, merit), kept until the votes change.

    The leaderboard, analytics and every round read them; rebuilding them means loading every
    voted round and refitting Bradley–Terry (with bootstrap resamples for the intervals), while
    telling whether the votes changed takes three narrow queries. Kept per database engine.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: WeakKeyDictionary[Any, dict[str, tuple[str, Any]]] = WeakKeyDictionary()

    def get(self, session: Session, name: str, compute: Callable[[], T]) -> T:
        state = _vote_state(session)
        with self._lock:
            kept = self._values.setdefault(session.get_bind(), {}).get(name)
        if kept is not None and kept[0] == state:
            return kept[1]
        value = compute()
        with self._lock:
            self._values[session.get_bind()][name] = (state, value)
        return value


def _vote_state(session: Session) -> str:
    """A fingerprint of what the derived figures depend on: the verdicts, the personas that
    exist (deleting one drops its outcomes) and when the router was last reset."""
    digest = hashlib.sha256()
    for row in session.execute(select(Vote.id, Vote.kind, Vote.round_id, Vote.answer_id,
                                      Vote.blind).where(Vote.kind.in_(VERDICTS))
                               .order_by(Vote.id)):
        digest.update(repr(tuple(row)).encode())
    digest.update(repr(session.scalars(select(Persona.id).order_by(Persona.id)).all()).encode())
    digest.update(repr(AppState.read(session, RESET_KEY, 0)).encode())
    return digest.hexdigest()


VOTE_FIGURES = VoteFigures()


def pairwise_outcomes(session: Session, after_vote_id: int = 0) -> list[PairOutcome]:
    """Every verdict as pairwise outcomes: the best beats each other answer; ties count half."""
    verdicts = session.scalars(
        select(Vote).where(Vote.kind.in_(VERDICTS), Vote.id > after_vote_id)
        .order_by(Vote.id).options(selectinload(Vote.round).selectinload(Round.answers)))
    outcomes = []
    for vote in verdicts:
        answered = votable_answers(vote.round)
        if vote.kind == "best":
            outcomes += [PairOutcome(vote.persona_id, a.persona_id, group=vote.round_id)
                         for a in answered if a.id != vote.answer_id
                         and vote.persona_id is not None]
        else:
            outcomes += [PairOutcome(a.persona_id, b.persona_id, tie=True, group=vote.round_id)
                         for a, b in combinations(answered, 2)]
    return outcomes


def merit_counts(session: Session) -> dict[int, tuple[float, float]]:
    """Pairwise wins and losses per persona since the router was last reset (every round
    reads them: computed once per change of the votes)."""
    return VOTE_FIGURES.get(session, "merit", lambda: _merit_counts(
        pairwise_outcomes(session, int(AppState.read(session, RESET_KEY, 0)))))


def _merit_counts(outcomes: list[PairOutcome]) -> dict[int, tuple[float, float]]:
    counts: dict[int, list[float]] = {}
    for outcome in outcomes:
        winner = counts.setdefault(outcome.winner, [0.0, 0.0])
        loser = counts.setdefault(outcome.loser, [0.0, 0.0])
        if outcome.tie:
            for side in (winner, loser):
                side[0] += 0.5
                side[1] += 0.5
        else:
            winner[0] += 1.0
            loser[1] += 1.0
    return {persona: (wins, losses) for persona, (wins, losses) in counts.items()}


def mark_router_reset(session: Session) -> None:
    """Merit counts only votes after this point; the votes themselves stay for the leaderboard."""
    latest = session.scalar(select(Vote.id).order_by(Vote.id.desc()).limit(1)) or 0
    AppState.write(session, RESET_KEY, latest)
