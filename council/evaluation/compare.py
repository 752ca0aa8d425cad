"""The app's compare rounds: the pair the page shows, the user's verdict, and the council vs
solo figures on the Leaderboard page.

A compare round's `Comparison` row holds the solo answer (the synthesizer model alone); the
council answer is the round's synthesis. The page sees the two as "A" and "B", in the order
drawn when the round started, only once both are complete, so neither the streaming nor the
timing gives away which is which; the verdict is stored by identity (council, solo or tie).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..errors import Conflict, NotFound
from ..models import Comparison, Round, Synthesis, as_utc, utcnow
from .stats import LOSS, TIE, WIN, WinRate, win_rate

LETTERS = ("A", "B")
SCORES = {"council": WIN, "tie": TIE, "solo": LOSS}  # the council's score for each verdict


class CompareError(ValueError):
    """A verdict that cannot be taken; the message says why."""


class NoComparison(CompareError, NotFound):
    pass


class PairNotReady(CompareError, Conflict):
    pass


def draw_council_position() -> str:
    """The side the council answer is shown on, from the system's randomness (not a seeded
    generator a user could learn)."""
    return random.SystemRandom().choice(LETTERS)


def _other(letter: str) -> str:
    return LETTERS[1 - LETTERS.index(letter)]


def _complete(row: Synthesis | Comparison | None) -> bool:
    return row is not None and row.status == "done" and bool(row.text.strip())


def _outcome(row: Synthesis | Comparison | None) -> str:
    if row is None:
        return "it never started"
    if row.status == "done":
        return "it came back empty"
    return f"{row.status}: {row.error}" if row.error else row.status


def _failure(round_: Round, comparison: Comparison) -> str:
    if not _complete(round_.synthesis):
        what, row = "the council answer", round_.synthesis
    else:
        what, row = f"the solo answer ({comparison.model})", comparison
    return f"There is no pair to judge: {what} did not complete ({_outcome(row)})."


def identity(comparison: Comparison, letter: str) -> str:
    return "council" if letter == comparison.council_position else "solo"


def reveal(comparison: Comparison) -> dict[str, Any] | None:
    """Who was who, once judged (None before): `{A, B: council|solo, verdict: A|B|tie,
    solo_model}`."""
    return None if comparison.verdict is None else _revealed(comparison, comparison.verdict)


def _revealed(comparison: Comparison, verdict: str) -> dict[str, Any]:
    council = comparison.council_position
    letter = {"council": council, "solo": _other(council), "tie": "tie"}[verdict]
    return {**{side: identity(comparison, side) for side in LETTERS}, "verdict": letter,
            "solo_model": comparison.model}


def compare_state(round_: Round) -> dict[str, Any] | None:
    """What the page shows of a round's comparison (None for an ordinary round): `waiting`
    while the round runs and either answer is incomplete; `ready` with the `pair` in its drawn
    order and, once judged, `reveal`; or `failed` with the `error` saying which answer did not
    complete."""
    comparison = round_.comparison
    if comparison is None:
        return None
    synthesis = round_.synthesis
    if synthesis is not None and _complete(synthesis) and _complete(comparison):
        council = comparison.council_position
        pair = {council: synthesis.text, _other(council): comparison.text}
        return {"status": "ready", "pair": dict(sorted(pair.items())),
                "reveal": reveal(comparison)}
    if round_.status == "running":
        return {"status": "waiting"}
    return {"status": "failed", "error": _failure(round_, comparison)}


def record_verdict(session: Session, round_id: int, letter: Any) -> dict[str, Any]:
    """Store the verdict on a complete pair ("A", "B" or "tie"; a later one replaces it) by
    identity, and answer who was who."""
    if letter not in (*LETTERS, "tie"):
        raise CompareError('Send {"verdict": "A"}, "B" or "tie": which answer is better.')
    round_ = session.get(Round, round_id)
    if round_ is None or round_.comparison is None:
        raise NoComparison(f"Round {round_id} is not a compare round (or no longer exists).")
    state = compare_state(round_)
    if state is None or state["status"] != "ready":
        raise PairNotReady(state["error"] if state and state["status"] == "failed" else
                           "Both answers are not complete yet; judge them once they are shown.")
    comparison = round_.comparison
    comparison.verdict = "tie" if letter == "tie" else identity(comparison, letter)
    comparison.verdict_at = utcnow()
    return _revealed(comparison, comparison.verdict)


@dataclass(frozen=True)
class CouncilVsSolo:
    """The council against the synthesizer model alone, over the judged compare rounds: its
    win rate (ties as half) and the median of what it cost more per round."""

    win_rate: WinRate
    median_extra_seconds: float | None  # council: round start → synthesis done; solo: its own
    median_extra_tokens: float | None  # council: every worker's + the synthesis's eval_count

    def as_dict(self) -> dict[str, Any]:
        return {**self.win_rate.as_dict(), "median_extra_seconds": self.median_extra_seconds,
                "median_extra_tokens": self.median_extra_tokens}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (as_utc(end) - as_utc(start)).total_seconds()


def _extra(comparison: Comparison) -> tuple[float | None, float | None]:
    """The council's seconds and tokens minus the solo answer's, for one judged round (None
    where a figure was not recorded)."""
    round_, synthesis = comparison.round, comparison.round.synthesis
    if synthesis is None:
        return None, None
    council_s = _seconds(round_.started_at, synthesis.finished_at)
    solo_s = _seconds(comparison.started_at, comparison.finished_at)
    seconds = None if council_s is None or solo_s is None else council_s - solo_s
    tokens = None
    if synthesis.eval_count is not None and comparison.eval_count is not None:
        council_tokens = synthesis.eval_count + sum(a.eval_count or 0 for a in round_.answers)
        tokens = float(council_tokens - comparison.eval_count)
    return seconds, tokens


def _median(values: list[float | None], digits: int) -> float | None:
    known = [value for value in values if value is not None]
    return round(median(known), digits) if known else None


def council_vs_solo(session: Session) -> CouncilVsSolo:
    """The Leaderboard's council vs solo figures, from every judged compare round."""
    judged = list(session.scalars(
        select(Comparison).where(Comparison.verdict.is_not(None)).order_by(Comparison.id)
        .options(selectinload(Comparison.round).selectinload(Round.answers),
                 selectinload(Comparison.round).selectinload(Round.synthesis))))
    extras = [_extra(comparison) for comparison in judged]
    return CouncilVsSolo(win_rate([SCORES[c.verdict] for c in judged if c.verdict]),
                         _median([seconds for seconds, _ in extras], 1),
                         _median([tokens for _, tokens in extras], 0))
