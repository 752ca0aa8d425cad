"""The leaderboard: personas rated from the votes, and LoRA vs prompt-only per persona.

Ratings are Bradley–Terry fits over every verdict (`council.ratings`), or over the blind ones
only (cast while names and colours were hidden, so they judge the answers rather than the
names); they are kept until the votes change (`votes.VOTE_FIGURES`), so the Leaderboard page,
Analytics and every round's synthesizer share one fit instead of each refitting on every view.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import Round, Vote, WorkerAnswer
from .ratings import RatingInterval, fit_bradley_terry, rate_personas
from .votes import VERDICTS, VOTE_FIGURES, pairwise_outcomes, votable_answers

BOOTSTRAP_ROUNDS = 200


@dataclass(frozen=True)
class LeaderboardRow:
    persona_id: int
    name: str
    color: str
    rating: RatingInterval
    rounds_shown: int
    votes_received: int
    win_rate: float | None
    blind_votes: int  # of the rounds_shown, those whose verdict was cast blind


def _verdicts(session: Session) -> list[Vote]:
    """Best/tie votes (at most one a round) with their rounds' answers: what was compared."""
    return list(session.scalars(select(Vote).where(Vote.kind.in_(VERDICTS)).options(
        selectinload(Vote.round).selectinload(Round.answers))))


def _blind_rounds(session: Session) -> set[int]:
    return set(session.scalars(select(Vote.round_id).where(Vote.kind.in_(VERDICTS),
                                                           Vote.blind.is_(True))))


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
    for verdict in _verdicts(session):
        for answer in votable_answers(verdict.round):
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


def persona_ratings(session: Session, personas: list[Any],
                    bootstrap_rounds: int = BOOTSTRAP_ROUNDS,
                    blind_only: bool = False) -> dict[int, RatingInterval]:
    """Every persona's rating with its bootstrap interval, refit only when the votes change."""
    ids = [p.id for p in personas]

    def fit() -> dict[int, RatingInterval]:
        outcomes = pairwise_outcomes(session)
        if blind_only:  # an outcome's group is its verdict's round
            blind = _blind_rounds(session)
            outcomes = [o for o in outcomes if o.group in blind]
        return {r.persona: r for r in rate_personas(outcomes, ids, bootstrap_rounds)}

    return VOTE_FIGURES.get(session, f"ratings:{blind_only}:{bootstrap_rounds}:{ids}", fit)


def point_ratings(session: Session) -> dict[int, float]:
    """Ratings of the personas that have been compared at all (what the synthesizer is told)."""
    def fit() -> dict[int, float]:
        outcomes = pairwise_outcomes(session)
        voted = {o.winner for o in outcomes} | {o.loser for o in outcomes}
        return fit_bradley_terry(outcomes, sorted(voted)) if outcomes else {}

    return VOTE_FIGURES.get(session, "points", fit)


def leaderboard(session: Session, personas: list[Any], bootstrap_rounds: int = BOOTSTRAP_ROUNDS,
                blind_only: bool = False) -> list[LeaderboardRow]:
    """Bradley–Terry ratings with intervals, plus the plain counts behind them: from every
    verdict, or (`blind_only`) from those cast blind."""
    ratings = persona_ratings(session, personas, bootstrap_rounds, blind_only)
    shown: Counter[int] = Counter()
    blind: Counter[int] = Counter()
    received: Counter[int] = Counter()
    for verdict in _verdicts(session):
        if blind_only and not verdict.blind:
            continue
        for answer in votable_answers(verdict.round):
            shown[answer.persona_id] += 1
            blind[answer.persona_id] += verdict.blind
        if verdict.kind == "best":
            received[verdict.persona_id] += 1
    rows = []
    for persona in personas:
        rounds = shown[persona.id]
        rows.append(LeaderboardRow(
            persona.id, persona.name, persona.color, ratings[persona.id], rounds,
            received[persona.id], received[persona.id] / rounds if rounds else None,
            blind[persona.id]))
    rows.sort(key=lambda row: (row.rating.comparisons == 0, -row.rating.rating))
    return rows
