"""The leaderboard: personas rated from the votes, and LoRA vs prompt-only per persona.

Ratings are Bradley–Terry fits over every verdict (`council.ratings`); they are kept until
the votes change (`votes.VOTE_FIGURES`), so the Leaderboard page, Analytics and every round's
synthesizer share one fit instead of each refitting on every view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import Round, Vote, WorkerAnswer
from .ratings import RatingInterval, fit_bradley_terry, rate_personas
from .votes import VERDICTS, VOTE_FIGURES, finished_answers, pairwise_outcomes

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


def _verdict_rounds(session: Session) -> list[Round]:
    """Rounds with a best/tie verdict: the ones whose answers were compared."""
    return list(session.scalars(
        select(Round).where(Round.id.in_(select(Vote.round_id).where(
            Vote.kind.in_(VERDICTS)))).options(selectinload(Round.answers))))


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
        for answer in finished_answers(round_):
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
                    bootstrap_rounds: int = BOOTSTRAP_ROUNDS) -> dict[int, RatingInterval]:
    """Every persona's rating with its bootstrap interval, refit only when the votes change."""
    ids = [p.id for p in personas]
    return VOTE_FIGURES.get(session, f"ratings:{bootstrap_rounds}:{ids}", lambda: {
        r.persona: r for r in rate_personas(pairwise_outcomes(session), ids, bootstrap_rounds)})


def point_ratings(session: Session) -> dict[int, float]:
    """Ratings of the personas that have been compared at all (what the synthesizer is told)."""
    def fit() -> dict[int, float]:
        outcomes = pairwise_outcomes(session)
        voted = {o.winner for o in outcomes} | {o.loser for o in outcomes}
        return fit_bradley_terry(outcomes, sorted(voted)) if outcomes else {}

    return VOTE_FIGURES.get(session, "points", fit)


def leaderboard(session: Session, personas: list[Any],
                bootstrap_rounds: int = BOOTSTRAP_ROUNDS) -> list[LeaderboardRow]:
    """Bradley–Terry ratings with intervals, plus the plain counts behind them."""
    ratings = persona_ratings(session, personas, bootstrap_rounds)
    shown: dict[int, int] = {}
    for round_ in _verdict_rounds(session):
        for answer in finished_answers(round_):
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
