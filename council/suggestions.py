"""Growth and pruning: what the council suggests changing about itself, and the evidence for it.

Three kinds, each computed from the stored rounds, votes and personas:

- **grow**: many recent questions routed with no persona clearly suited (the top weight close
  to an even split): run discovery on just those questions to propose a persona for them;
- **merge**: two enabled personas whose answers to the same questions are alike (the
  similarity flag of `council.analytics`): keep one, give it the other's example messages and
  disable the other;
- **retire**: a persona the router rarely selects that also rates low: disable it.

Merge and retire disable a persona, so they are suggested only on evidence that would convince
a careful person (the minimums below, each with its reason), and each names its counts with
their 95% intervals ("12 shared questions, answers alike on 9 (75%, 95% CI 47–92%)"). Nothing
here changes anything (`council.suggestion_actions` does, on a click the page asks to confirm);
every action disables rather than deletes, so a persona can be enabled again on the Personas
page.
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
    MIN_SHARED_QUESTIONS,
    SimilarityFlag,
    SimilarityMatrix,
    leaderboard_rows,
    persona_similarity,
    recent_rounds,
)
from .embeddings import Embedder
from .evaluation.stats import wilson_interval
from .leaderboard import LeaderboardRow
from .models import Job, Persona, Round, as_utc
from .personas import list_personas
from .ratings import INIT, PROVISIONAL_VOTES

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
# means the same with 4 personas and 3 speaking as with 12 and 2), over the whole 95% Wilson
# interval of its selection rate. Personas unseen for COUNCIL_ROUTER_MAX_UNSEEN rounds are
# given a turn, so even an unwanted one stays above ~0.15.
LOW_USE_RATIO = 0.4
# A low rating: this far below the average (1000), with the rating's 95% interval wholly below
# the average. 100 points below, a persona loses about 64% of its comparisons with an average one.
LOW_RATING_GAP = 100.0
# Retiring rests on the rating, so it needs a settled one: from PROVISIONAL_VOTES (15) votes
# ratings.py's simulations put ratings within 80 points (rms) and their intervals close to what
# they claim; from 0-4 votes they were 139 off and the intervals held the truth 57% of the time.
RETIRE_MIN_VOTES = PROVISIONAL_VOTES
# Merge evidence (a merge disables a persona): at least MIN_SHARED_QUESTIONS questions both
# answered (analytics.py says why); their answers alike (cosine at the similarity threshold or
# more) on most of them at 95%, i.e. the Wilson interval's lower end at least MERGE_MIN_ALIKE,
# which takes 9 alike of 10, 10 of 12 or 15 of 20; ...
MERGE_MIN_ALIKE = 0.5
# ... and each of the two rated from at least this many votes, because the ratings decide which
# one stays: below 5 votes a rating is off by 139 points (rms) in ratings.py's simulations, more
# than the gap between most personas, so which to keep would be a guess.
MERGE_MIN_VOTES = 5
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
    """What the suggestion's button does: `kind` names the endpoint, `body` is what it posts;
    `confirm`, when set, is the question the page asks first (an action that disables a
    persona), and the endpoint refuses the body without `"confirm": true`."""

    kind: str
    label: str
    body: dict[str, Any] = field(default_factory=dict)
    confirm: str = ""


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


def _percents(low: float, high: float) -> str:
    """An interval of shares as "47–92%"."""
    return f"{low * 100:.0f}–{high:.0%}"


def _proportion(part: int, whole: int) -> str:
    """"9 (75%, 95% CI 47–92%)": a count of `whole` with its share and Wilson interval."""
    interval = wilson_interval(part, whole)
    if interval is None:
        return f"{part} (—)"
    return f"{part} ({part / whole:.0%}, 95% CI {_percents(*interval)})"


def _disable_question(name: str) -> str:
    return (f"Disable {name}? Its answers, votes and examples stay, and you can enable it again "
            "on the Personas page.")


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
    """How often a persona was selected in the recent rounds it was a candidate in, and the
    average persona's selection rate over those rounds."""

    candidate: int
    selected: int
    average: float

    @property
    def ratio(self) -> float | None:
        """Its selection rate over the average persona's; None without rounds."""
        return self.selected / self.candidate / self.average \
            if self.candidate and self.average else None

    def ratio_interval(self) -> tuple[float, float] | None:
        """The 95% Wilson interval of its selection rate, over the average persona's rate."""
        interval = wilson_interval(self.selected, self.candidate)
        if interval is None or not self.average:
            return None
        return interval[0] / self.average, interval[1] / self.average


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
    return {pid: PersonaUse(candidate[pid], selected[pid], average) for pid in candidate}


def _use_figure(use: PersonaUse, name: str) -> Figure:
    return Figure(f"{name}: selected", use.selected,
                  f"in {_proportion(use.selected, use.candidate)} of {use.candidate} recent "
                  "rounds")


def _votes(row: LeaderboardRow | None) -> int:
    return row.rating.votes if row is not None and row.rating.comparisons else 0


def _rating_figure(row: LeaderboardRow | None, name: str) -> Figure:
    if row is None or not row.rating.comparisons:
        return Figure(f"{name}: rating", INIT, "no votes yet")
    settled = ", provisional" if row.rating.provisional else ""
    votes = "vote" if row.rating.votes == 1 else "votes"
    return Figure(f"{name}: rating", row.rating.rating,
                  f"{row.rating.rating:.0f} (95% CI {row.rating.lower:.0f}–"
                  f"{row.rating.upper:.0f}; {row.rating.votes} {votes}{settled})")


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


def merge_evidence(flag: SimilarityFlag, first: LeaderboardRow | None,
                   second: LeaderboardRow | None) -> bool:
    """Enough to merge on: MIN_SHARED_QUESTIONS shared questions, answers alike on most of
    them at 95% (MERGE_MIN_ALIKE), and both ratings from MERGE_MIN_VOTES votes or more."""
    if flag.rounds < MIN_SHARED_QUESTIONS:
        return False
    interval = wilson_interval(flag.alike, flag.rounds)
    if interval is None or interval[0] < MERGE_MIN_ALIKE:
        return False
    return min(_votes(first), _votes(second)) >= MERGE_MIN_VOTES


def merge_suggestions(similarity: SimilarityMatrix, personas: dict[int, Persona],
                      ratings: dict[int, LeaderboardRow],
                      use: dict[int, PersonaUse]) -> list[Suggestion]:
    """One per flagged pair of enabled personas with enough evidence (most alike first)."""
    found = []
    for flag in similarity.flags:
        a, b = personas.get(flag.a.persona_id or 0), personas.get(flag.b.persona_id or 0)
        if a is None or b is None or not merge_evidence(flag, ratings.get(a.id),
                                                        ratings.get(b.id)):
            continue
        kept, other = _keeps(a, b, ratings, use)
        alike = _proportion(flag.alike, flag.rounds)
        found.append(Suggestion(
            "merge", f"Merge {other.name} into {kept.name}",
            f"{a.name} and {b.name} answered {flag.rounds} of the same questions, and their "
            f"answers were alike (cosine {similarity.threshold:.2f} or more) on {alike}, so "
            f"the second voice adds little. Merging keeps {kept.name} (the better rated), gives "
            f"it {other.name}'s example messages and disables {other.name}; you can enable it "
            f"again on the Personas page.",
            [Figure("shared questions", flag.rounds,
                    f"{flag.rounds} shared questions, answers alike on {alike}"),
             Figure("answer similarity (mean cosine)", flag.similarity,
                    f"{flag.similarity:.2f} (flagged from {similarity.threshold:.2f})"),
             _rating_figure(ratings.get(kept.id), kept.name),
             _rating_figure(ratings.get(other.id), other.name)],
            Action("merge", f"Merge: keep {kept.name}, disable {other.name}",
                   {"keep": kept.id, "disable": other.id}, _disable_question(other.name))))
    return found


# --- retire ----------------------------------------------------------------------------------


def should_retire(row: LeaderboardRow, use: PersonaUse) -> bool:
    """Settled evidence of low use and a low rating: RETIRE_MIN_ROUNDS rounds as a candidate,
    its use under LOW_USE_RATIO over the whole interval, RETIRE_MIN_VOTES votes, and a rating
    LOW_RATING_GAP below average whose interval stays below average."""
    interval = use.ratio_interval()
    if interval is None or use.candidate < RETIRE_MIN_ROUNDS or interval[1] >= LOW_USE_RATIO:
        return False
    rating = row.rating
    return (_votes(row) >= RETIRE_MIN_VOTES and rating.rating <= INIT - LOW_RATING_GAP
            and rating.upper < INIT)


def retire_suggestions(personas: dict[int, Persona], ratings: dict[int, LeaderboardRow],
                       use: dict[int, PersonaUse]) -> list[Suggestion]:
    found = []
    for persona in personas.values():
        row, used = ratings.get(persona.id), use.get(persona.id)
        if row is None or used is None or not should_retire(row, used):
            continue
        ratio, (low, high) = used.ratio or 0.0, used.ratio_interval() or (0.0, 0.0)
        rating = row.rating
        found.append(Suggestion(
            "retire", f"Retire {persona.name}",
            f"The router selected {persona.name} in {_proportion(used.selected, used.candidate)}"
            f" of the {used.candidate} recent rounds it could speak in: {ratio:.0%} of the "
            f"average persona's rate (95% CI {_percents(low, high)}). Its answers rate "
            f"{rating.rating:.0f} (95% CI {rating.lower:.0f}–{rating.upper:.0f}, where 1000 is "
            f"average) from {rating.votes} votes. Disabling it keeps its answers and votes; you "
            f"can enable it again on the Personas page.",
            [_use_figure(used, persona.name),
             Figure("use against the average persona", round(ratio, 3),
                    f"{ratio:.0%} (95% CI {_percents(low, high)}; suggested when the interval is "
                    f"under {LOW_USE_RATIO:.0%})"),
             _rating_figure(row, persona.name)],
            Action("retire", f"Disable {persona.name}", {"persona_id": persona.id},
                   _disable_question(persona.name))))
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
