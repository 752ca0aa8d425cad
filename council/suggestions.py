"""Growth and pruning: what the council suggests changing about itself, and the evidence for it.

Three kinds, each computed from the stored rounds, votes and personas:

- **grow**: many recent questions routed with no persona clearly suited (the top weight close
  to an even split): run discovery on just those questions to propose a persona for them;
- **merge**: two enabled personas whose answers to the same questions are alike (the
  similarity flag of `council.analytics`): keep one, give it the other's example messages and
  disable the other;
- **retire**: a persona the router rarely selects that also rates low: disable it.

Nothing here changes anything (`council.suggestion_actions` does, on a click); every action
disables rather than deletes, so a persona can be enabled again on the Personas page.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .analytics import (
    SimilarityMatrix,
    leaderboard_rows,
    persona_similarity,
    recent_rounds,
)
from .embeddings import Embedder
from .leaderboard import LeaderboardRow
from .models import Job, Persona, Round, as_utc
from .personas import list_personas
from .ratings import INIT

# Growth looks at this many recent routed rounds: recent enough to be about how the user asks
# now, and at most this many questions go to discovery (a small, quick run).
GROWTH_ROUNDS = 50
# A round is "unsure" when its top persona's weight is under this multiple of an even split
# (1/n): with the four shipped personas, under 40% where an even split is 25%. Questions no
# persona covers ("What is a B-tree?", "hello") route at 29-39%; covered ones at 45-96%.
UNSURE_TOP_FACTOR = 1.6
# Suggest growing once at least this many distinct questions were unsure (discovery needs a
# few messages per candidate persona) ...
GROW_MIN_QUESTIONS = 8
# ... and they are at least this share of the rounds looked at: a habit, not a few strays.
GROW_MIN_SHARE = 0.3
# The questions the page shows as evidence (discovery gets all of them).
GROW_SHOWN_QUESTIONS = 5
# Use is measured over this many recent rounds.
USE_ROUNDS = 100
# A persona must have been a candidate in this many of them before its use says anything.
RETIRE_MIN_ROUNDS = 20
# Low use: selected less than this share as often as the average persona (relative, so that it
# means the same with 4 personas and 3 speaking as with 12 and 2). Personas unseen for
# COUNCIL_ROUTER_MAX_UNSEEN rounds are given a turn, so even an unwanted one stays above ~0.15.
LOW_USE_RATIO = 0.4
# Very low use: the bar for retiring on a provisional rating (few votes say little on their own).
VERY_LOW_USE_RATIO = 0.2
# A low rating: this far below the average (1000). 100 points below, a persona loses about 64%
# of its comparisons with an average one.
LOW_RATING_GAP = 100.0
# Never suggest leaving fewer enabled personas than this: votes, peer review and the
# synthesizer need two answers to compare.
MIN_COUNCIL = 2
# How a growth discovery job is marked, so that the rounds before it are not suggested again.
GROW_SOURCE = "grow"


@dataclass(frozen=True)
class Figure:
    """One number behind a suggestion: `value` for code, `shown` for a reader."""

    label: str
    value: float
    shown: str


@dataclass(frozen=True)
class Action:
    """What the suggestion's button does: `kind` names the endpoint, `body` is what it posts."""

    kind: str
    label: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "grow", "merge" or "retire"
    title: str
    message: str
    figures: list[Figure]
    action: Action
    questions: list[str] = field(default_factory=list)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "—"


# --- grow ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsureRound:
    round_id: int
    question: str
    top_weight: float
    even_weight: float  # 1/n for its n candidates
    entropy_ratio: float  # entropy over its maximum log2(n)


@dataclass(frozen=True)
class UnsureRounds:
    """The rounds growth looked at (`rounds`) and the unsure ones among them, newest first,
    one per distinct question."""

    rounds: int
    unsure: list[UnsureRound]


def growth_since(session: Session) -> datetime | None:
    """Rounds before the council last changed say nothing about it now: the newest persona's
    creation, or the last growth discovery started (its questions were handled)."""
    stamps = [session.scalar(select(func.max(Persona.created_at)))]
    for job in session.scalars(select(Job).where(Job.kind == "discover")
                               .order_by(Job.id.desc())):
        if (job.args or {}).get("suggested") == GROW_SOURCE:
            stamps.append(job.created_at)
            break
    known = [as_utc(stamp) for stamp in stamps if stamp is not None]
    return max(known) if known else None


def _unsure(round_: Round) -> UnsureRound | None:
    decisions = (round_.routing or {}).get("decisions") or []
    if len(decisions) < 2:
        return None
    top = max(float(d.get("weight") or 0.0) for d in decisions)
    even = 1 / len(decisions)
    if top >= UNSURE_TOP_FACTOR * even:
        return None
    entropy = float((round_.routing or {}).get("entropy") or 0.0)
    return UnsureRound(round_.id, " ".join(round_.user_message.split()), top, even,
                       entropy / math.log2(len(decisions)))


def unsure_rounds(session: Session, limit: int = GROWTH_ROUNDS) -> UnsureRounds:
    """The recent routed rounds since the council last changed, and which were unsure."""
    since = growth_since(session)
    routed = [r for r in recent_rounds(session, limit) if (r.routing or {}).get("decisions")
              and (since is None or as_utc(r.started_at) > since)]
    unsure: dict[str, UnsureRound] = {}
    for round_ in reversed(routed):
        found = _unsure(round_)
        if found is not None and found.question:
            unsure.setdefault(found.question.casefold(), found)
    return UnsureRounds(len(routed), list(unsure.values()))


def growth_suggestion(found: UnsureRounds) -> Suggestion | None:
    unsure = found.unsure
    if len(unsure) < GROW_MIN_QUESTIONS or len(unsure) < GROW_MIN_SHARE * found.rounds:
        return None
    top = sum(u.top_weight for u in unsure) / len(unsure)
    even = sum(u.even_weight for u in unsure) / len(unsure)
    entropy = sum(u.entropy_ratio for u in unsure) / len(unsure)
    count = len(unsure)
    return Suggestion(
        "grow", f"A new persona for {count} questions no persona suits",
        f"On {count} of the last {found.rounds} questions the router was unsure: no persona "
        f"got {UNSURE_TOP_FACTOR:g}× an even share of the weight. They may be a way of asking "
        f"that no persona covers. Discovery on just these questions proposes personas for "
        f"them; review and import them on the Discover page.",
        [Figure("unsure questions", count, f"{count} of {found.rounds} "
                f"({_share(count, found.rounds)})"),
         Figure("top persona's weight (mean)", round(top, 3),
                f"{top:.0%} (an even split: {even:.0%})"),
         Figure("gate entropy (mean share of its maximum)", round(entropy, 3), f"{entropy:.0%}")],
        Action("grow", f"Discover personas from these {count} questions"),
        [u.question for u in unsure[:GROW_SHOWN_QUESTIONS]])


# --- use -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaUse:
    """How often a persona was selected in the recent rounds it was a candidate in."""

    candidate: int
    selected: int
    ratio: float | None  # its selection rate over the average persona's; None without rounds


def persona_use(session: Session, limit: int = USE_ROUNDS) -> dict[int, PersonaUse]:
    candidate: Counter[int] = Counter()
    selected: Counter[int] = Counter()
    for round_ in recent_rounds(session, limit):
        for decision in (round_.routing or {}).get("decisions") or []:
            persona_id = decision.get("persona_id")
            if persona_id is None:
                continue
            candidate[persona_id] += 1
            selected[persona_id] += bool(decision.get("selected"))
    average = sum(selected.values()) / sum(candidate.values()) if candidate else 0.0
    return {pid: PersonaUse(candidate[pid], selected[pid],
                            selected[pid] / candidate[pid] / average if average else None)
            for pid in candidate}


def _use_figure(use: PersonaUse, name: str) -> Figure:
    return Figure(f"{name}: selected", use.selected,
                  f"{use.selected} of {use.candidate} recent rounds "
                  f"({_share(use.selected, use.candidate)})")


def _rating_figure(row: LeaderboardRow | None, name: str) -> Figure:
    if row is None or not row.rating.comparisons:
        return Figure(f"{name}: rating", INIT, "no votes yet")
    settled = ", provisional" if row.rating.provisional else ""
    votes = "vote" if row.rating.votes == 1 else "votes"
    return Figure(f"{name}: rating", row.rating.rating,
                  f"{row.rating.rating:.0f} ({row.rating.votes} {votes}{settled})")


# --- merge -----------------------------------------------------------------------------------


def _keeps(a: Persona, b: Persona, ratings: dict[int, LeaderboardRow],
           use: dict[int, PersonaUse]) -> tuple[Persona, Persona]:
    """(kept, disabled): the better rated, else the more used, else the older one is kept."""
    def standing(p: Persona) -> tuple[float, int, int]:
        row = ratings.get(p.id)
        rating = row.rating.rating if row and row.rating.comparisons else INIT
        used = use[p.id].selected if p.id in use else 0
        return rating, used, -p.position
    return (a, b) if standing(a) >= standing(b) else (b, a)


def merge_suggestions(similarity: SimilarityMatrix, personas: dict[int, Persona],
                      ratings: dict[int, LeaderboardRow],
                      use: dict[int, PersonaUse]) -> list[Suggestion]:
    """One per flagged pair of enabled personas (most alike first)."""
    found = []
    for flag in similarity.flags:
        a, b = personas.get(flag.a.persona_id or 0), personas.get(flag.b.persona_id or 0)
        if a is None or b is None:
            continue
        kept, other = _keeps(a, b, ratings, use)
        found.append(Suggestion(
            "merge", f"Merge {other.name} into {kept.name}",
            f"{a.name} and {b.name} answer alike: their answers to the same questions are "
            f"{flag.similarity:.2f} similar on average, so the second voice adds no view. "
            f"Merging keeps {kept.name} (the better rated or more used), gives it "
            f"{other.name}'s example messages and disables {other.name}; you can enable it "
            f"again on the Personas page.",
            [Figure("answer similarity (mean cosine)", flag.similarity,
                    f"{flag.similarity:.2f} (flagged from {similarity.threshold:.2f})"),
             Figure("questions both answered", flag.rounds, str(flag.rounds)),
             _rating_figure(ratings.get(kept.id), kept.name),
             _rating_figure(ratings.get(other.id), other.name)],
            Action("merge", f"Merge: keep {kept.name}, disable {other.name}",
                   {"keep": kept.id, "disable": other.id})))
    return found


# --- retire ----------------------------------------------------------------------------------


def should_retire(row: LeaderboardRow, use: PersonaUse) -> bool:
    """Low use and a low rating; on a provisional rating, only with very low use."""
    if not row.rating.comparisons or use.ratio is None:
        return False
    if use.candidate < RETIRE_MIN_ROUNDS or row.rating.rating > INIT - LOW_RATING_GAP:
        return False
    return use.ratio < (VERY_LOW_USE_RATIO if row.rating.provisional else LOW_USE_RATIO)


def retire_suggestions(personas: dict[int, Persona], ratings: dict[int, LeaderboardRow],
                       use: dict[int, PersonaUse]) -> list[Suggestion]:
    found = []
    for persona in personas.values():
        row, used = ratings.get(persona.id), use.get(persona.id)
        if row is None or used is None or used.ratio is None or not should_retire(row, used):
            continue
        found.append(Suggestion(
            "retire", f"Retire {persona.name}",
            f"The router rarely selects {persona.name} (at {used.ratio:.0%} of the average "
            f"persona's rate) and its answers rate low ({row.rating.rating:.0f}, where 1000 is "
            f"average). Disabling it keeps its answers and votes; you can enable it again on "
            f"the Personas page.",
            [_use_figure(used, persona.name),
             Figure("use against the average persona", round(used.ratio, 3),
                    f"{used.ratio:.0%} (suggested under {LOW_USE_RATIO:.0%}, or "
                    f"{VERY_LOW_USE_RATIO:.0%} on a provisional rating)"),
             _rating_figure(row, persona.name)],
            Action("retire", f"Disable {persona.name}", {"persona_id": persona.id})))
    return found


# --- everything ------------------------------------------------------------------------------


def suggestions_from(session: Session, similarity: SimilarityMatrix,
                     leaderboard: list[LeaderboardRow]) -> list[Suggestion]:
    """Every suggestion, given the similarity and ratings the Analytics page already has."""
    enabled = {p.id: p for p in list_personas(session, enabled_only=True)}
    found: list[Suggestion] = []
    grow = growth_suggestion(unsure_rounds(session))
    if grow is not None:
        found.append(grow)
    if len(enabled) > MIN_COUNCIL:
        ratings = {row.persona_id: row for row in leaderboard}
        use = persona_use(session)
        found += merge_suggestions(similarity, enabled, ratings, use)
        found += retire_suggestions(enabled, ratings, use)
    return found


def suggestions(session: Session, embedder: Embedder) -> list[Suggestion]:
    """Every suggestion, computing what it rests on (answer embeddings are cached)."""
    return suggestions_from(session, persona_similarity(session, embedder),
                            leaderboard_rows(session))
