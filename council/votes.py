"""Votes: the user's judgement on a round, turned into pairwise outcomes and router lessons.

A round has at most one verdict, `best` (one answer beats every other answer shown) or `tie`
(every answer shown counts half a win against each other); changing it replaces the old one.
Thumbs down (`down`) are per answer and toggle. Every vote keeps the router's weights of that
round; the router learns from it at once (the winner is a positive label for the message, the
answers it beat and a thumbs-down answer negative ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from .models import AppState, Round, RoutingExample, Vote, WorkerAnswer
from .ratings import PairOutcome, RatingInterval, rate_personas
from .router import Router

VOTE_KINDS = ("best", "down", "tie")
RESET_KEY = "router_reset_after_vote"


class VoteError(ValueError):
    """A vote that cannot be recorded; the message says why."""


def _answered(round_: Round) -> list[WorkerAnswer]:
    """Answers that were shown in full: the ones that can win or lose."""
    return [a for a in round_.answers if a.status == "done" and a.persona_id is not None]


def record_vote(session: Session, router: Router, round_id: int, kind: str,
                answer_id: int | None = None) -> Vote | None:
    """Record a vote (or undo a repeated thumbs down, returning None) and teach the router."""
    if kind not in VOTE_KINDS:
        raise VoteError(f"Unknown vote {kind!r}; use one of {', '.join(VOTE_KINDS)}.")
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise VoteError("That round no longer exists.")
    if round_.status == "running":
        raise VoteError("Wait for the round to finish before voting.")
    answered = _answered(round_)
    answer = None
    if kind in ("best", "down"):
        answer = next((a for a in round_.answers if a.id == answer_id), None)
        if answer is None:
            raise VoteError("That answer is not part of this round.")
        if answer not in answered:
            raise VoteError(f"{answer.persona_name}'s answer did not finish ({answer.status}); "
                            f"only finished answers can be voted on.")
    elif len(answered) < 2:
        raise VoteError("A tie needs at least two finished answers.")

    if kind == "down":
        existing = session.scalar(select(Vote).where(Vote.round_id == round_id,
                                                     Vote.kind == "down",
                                                     Vote.answer_id == answer_id))
        if existing is not None:
            _retract(session, router, existing)
            return None
    else:
        for verdict in session.scalars(select(Vote).where(Vote.round_id == round_id,
                                                          Vote.kind.in_(("best", "tie")))):
            _retract(session, router, verdict)

    weights = {str(d["persona_id"]): d["weight"]
               for d in (round_.routing or {}).get("decisions", [])}
    vote = Vote(round_id=round_id, kind=kind, answer_id=answer.id if answer else None,
                persona_id=answer.persona_id if answer else None, weights=weights)
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


def pairwise_outcomes(session: Session, after_vote_id: int = 0) -> list[PairOutcome]:
    """Every verdict as pairwise outcomes: the best beats each other answer; ties count half."""
    verdicts = session.scalars(
        select(Vote).where(Vote.kind.in_(("best", "tie")), Vote.id > after_vote_id)
        .order_by(Vote.id).options(selectinload(Vote.round).selectinload(Round.answers)))
    outcomes = []
    for vote in verdicts:
        answered = _answered(vote.round)
        if vote.kind == "best":
            outcomes += [PairOutcome(vote.persona_id, a.persona_id, group=vote.round_id)
                         for a in answered if a.id != vote.answer_id
                         and vote.persona_id is not None]
        else:
            outcomes += [PairOutcome(a.persona_id, b.persona_id, tie=True, group=vote.round_id)
                         for a, b in combinations(answered, 2)]
    return outcomes


def merit_counts(session: Session) -> dict[int, tuple[float, float]]:
    """Pairwise wins and losses per persona since the router was last reset."""
    state = session.get(AppState, RESET_KEY)
    counts: dict[int, list[float]] = {}
    for outcome in pairwise_outcomes(session, int(state.value) if state else 0):
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
    state = session.get(AppState, RESET_KEY)
    if state is None:
        session.add(AppState(key=RESET_KEY, value=latest))
    else:
        state.value = latest


@dataclass(frozen=True)
class LeaderboardRow:
    persona_id: int
    name: str
    color: str
    rating: RatingInterval
    rounds_shown: int
    votes_received: int
    win_rate: float | None


def _verdict_rounds(session: Session) -> list[Round]:
    """Rounds with a best/tie verdict: the ones whose answers were compared."""
    return list(session.scalars(
        select(Round).where(Round.id.in_(select(Vote.round_id).where(
            Vote.kind.in_(("best", "tie"))))).options(selectinload(Round.answers))))


@dataclass(frozen=True)
class VariantRow:
    """How one variant (its LoRA adapter, the router's mix of adapters, or prompt-only) of a
    persona fared in voted rounds."""

    persona_id: int
    name: str
    variant: str
    rounds_shown: int
    best_votes: int
    win_rate: float | None
    interval: tuple[float, float] | None  # Wilson 95% interval of the win rate


def variant_comparison(session: Session, personas: list[Any]) -> list[VariantRow]:
    """Per persona that has answered through an adapter: LoRA, mix (when it was used) and
    prompt-only, side by side."""
    from scipy.stats import binomtest

    shown: dict[tuple[int, str], int] = {}
    for round_ in _verdict_rounds(session):
        for answer in _answered(round_):
            key = (answer.persona_id, answer.variant)
            shown[key] = shown.get(key, 0) + 1
    best: dict[tuple[int, str], int] = {}
    for persona_id, variant in session.execute(
            select(WorkerAnswer.persona_id, WorkerAnswer.variant).join(
                Vote, Vote.answer_id == WorkerAnswer.id).where(Vote.kind == "best")):
        best[(persona_id, variant)] = best.get((persona_id, variant), 0) + 1
    rows = []
    for persona in personas:
        if (persona.id, "lora") not in shown and (persona.id, "mix") not in shown:
            continue
        for variant in ("lora", "mix", "prompt"):
            if variant == "mix" and (persona.id, "mix") not in shown:
                continue
            rounds, wins = shown.get((persona.id, variant), 0), best.get((persona.id, variant), 0)
            interval = None
            if rounds:
                ci = binomtest(wins, rounds).proportion_ci(method="wilson")
                interval = (float(ci.low), float(ci.high))
            rows.append(VariantRow(persona.id, persona.name, variant, rounds, wins,
                                   wins / rounds if rounds else None, interval))
    return rows


def leaderboard(session: Session, personas: list[Any], bootstrap_rounds: int = 200
                ) -> list[LeaderboardRow]:
    """Bradley–Terry ratings with intervals, plus the plain counts behind them."""
    outcomes = pairwise_outcomes(session)
    ids = [p.id for p in personas]
    ratings = {r.persona: r for r in rate_personas(outcomes, ids, bootstrap_rounds)}
    shown: dict[int, int] = {}
    for round_ in _verdict_rounds(session):
        for answer in _answered(round_):
            shown[answer.persona_id] = shown.get(answer.persona_id, 0) + 1
    received: dict[int, int] = {}
    for persona_id in session.scalars(select(Vote.persona_id).where(Vote.kind == "best")):
        received[persona_id] = received.get(persona_id, 0) + 1
    rows = []
    for persona in personas:
        rounds = shown.get(persona.id, 0)
        rows.append(LeaderboardRow(
            persona.id, persona.name, persona.color, ratings[persona.id], rounds,
            received.get(persona.id, 0), received.get(persona.id, 0) / rounds if rounds else None))
    rows.sort(key=lambda row: (row.rating.comparisons == 0, -row.rating.rating))
    return rows
