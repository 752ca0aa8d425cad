"""Analytics: what the council has been doing, computed from the stored rounds.

Four views, each a plain function over a session so that the web layer only renders:

- `persona_utilisation`: how many rounds each persona was selected in, per day (or per block of
  rounds while there are too few days for a per-day chart to say anything);
- `gate_entropy`: the router's entropy per round, next to its maximum log2(n): is it decisive?
- `leaderboard_rows`: the leaderboard, as the Leaderboard page computes it;
- `persona_similarity`: how alike two personas' answers to the same question are, so that
  personas that say the same thing can be rewritten or merged.

The work is capped (`HISTORY_ROUNDS`, `SIMILARITY_ROUNDS`) so the page stays quick on a long
history; the caps are reported with the results and shown on the page.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .embeddings import Embedder
from .embeddings.cache import EmbeddingCache
from .leaderboard import LeaderboardRow, leaderboard
from .models import Persona, Round, as_utc
from .personas import list_personas

# Utilisation and entropy look at the most recent rounds only: enough for a trend, cheap to chart.
HISTORY_ROUNDS = 1000
# Similarity embeds every finished answer of these rounds (new ones only: see embed_answers).
SIMILARITY_ROUNDS = 200
# Answer embeddings kept between requests, per embedder (384 floats each: ~3 KB).
EMBEDDING_CACHE_SIZE = 5000
# Two personas whose answers to the same questions are, on average, at least this similar
# (cosine of MiniLM sentence embeddings) are flagged: they add a voice without adding a view.
SIMILARITY_THRESHOLD = 0.9
# Fewer shared questions than this say little about two personas: one or two odd answers move
# the share of alike answers by 10-20 points, and its 95% interval spans most of 0-1. The flag
# then says so, and no merge is suggested (council/suggestions.py).
MIN_SHARED_QUESTIONS = 10
# With fewer distinct days than this, a per-day chart is one or two bars: blocks of rounds instead.
MIN_DAYS_FOR_DAILY = 3
# How many blocks of rounds the utilisation chart aims for when it groups by rounds.
TARGET_BLOCKS = 20


# --- shared ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaRef:
    """A persona as charted: current name and colour, or the round's snapshot once deleted."""

    key: str
    persona_id: int | None
    name: str
    color: str


def count_rounds(session: Session) -> int:
    """How many rounds exist at all: the page shows its empty state at zero."""
    return session.scalar(select(func.count(Round.id))) or 0


def recent_rounds(session: Session, limit: int, with_answers: bool = False) -> list[Round]:
    """The latest `limit` rounds, oldest first (charts read left to right)."""
    query = select(Round).order_by(Round.id.desc()).limit(limit)
    if with_answers:
        query = query.options(selectinload(Round.answers))
    return list(reversed(session.scalars(query).all()))


def _persona_refs(session: Session) -> dict[int, PersonaRef]:
    return {p.id: _ref_for(p) for p in list_personas(session)}


def _ref_for(persona: Persona) -> PersonaRef:
    return PersonaRef(str(persona.id), persona.id, persona.name, persona.color)


# --- utilisation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UtilisationSeries:
    persona: PersonaRef
    counts: list[int]
    total: int


@dataclass(frozen=True)
class Utilisation:
    """Rounds each persona was selected in, per bucket. `unit` is "day" or "rounds"."""

    unit: str
    block_size: int
    labels: list[str]
    series: list[UtilisationSeries]
    rounds: int
    round_limit: int


def selected_personas(round_: Round) -> list[tuple[int | None, str, str]]:
    """(persona id, name, colour) of each persona the router selected for this round.

    The routing record says who was selected; rounds without one (none so far, but older data
    could have) fall back to the answers, which exist exactly for the selected personas.
    """
    decisions = (round_.routing or {}).get("decisions")
    if decisions is not None:
        return [(d.get("persona_id"), str(d.get("name", "")), str(d.get("color", "")))
                for d in decisions if d.get("selected")]
    return [(a.persona_id, a.persona_name, a.persona_color) for a in round_.answers]


def _buckets(rounds: list[Round]) -> tuple[str, int, list[str], list[int]]:
    """Unit, block size, labels and each round's bucket index: days, or blocks of rounds."""
    days = [as_utc(r.started_at).date() for r in rounds]
    distinct: list[date] = sorted(set(days))
    if len(distinct) >= MIN_DAYS_FOR_DAILY:
        index = {day: k for k, day in enumerate(distinct)}
        return "day", 1, [d.isoformat() for d in distinct], [index[d] for d in days]
    size = max(1, math.ceil(len(rounds) / TARGET_BLOCKS))
    labels = []
    for start in range(0, len(rounds), size):
        end = min(start + size, len(rounds))
        labels.append(str(start + 1) if end - start == 1 else f"{start + 1}–{end}")
    return "rounds", size, labels, [k // size for k in range(len(rounds))]


def persona_utilisation(session: Session, limit: int = HISTORY_ROUNDS) -> Utilisation:
    """Per persona, the number of rounds it was selected in, over time."""
    rounds = recent_rounds(session, limit, with_answers=True)
    unit, size, labels, bucket_of = _buckets(rounds)
    refs = _persona_refs(session)
    counts: dict[str, list[int]] = {}
    seen: dict[str, PersonaRef] = {}
    for round_, bucket in zip(rounds, bucket_of):
        for persona_id, name, color in selected_personas(round_):
            ref = refs.get(persona_id) if persona_id is not None else None
            ref = ref or PersonaRef(f"name:{name}", persona_id, name, color or "#4f8cff")
            seen.setdefault(ref.key, ref)
            counts.setdefault(ref.key, [0] * len(labels))[bucket] += 1
    order = [ref.key for ref in refs.values()] + sorted(set(seen) - {r.key for r in refs.values()})
    series = [UtilisationSeries(seen[key], counts[key], sum(counts[key]))
              for key in order if key in seen]
    return Utilisation(unit, size, labels, series, len(rounds), limit)


# --- gate entropy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EntropyPoint:
    round_id: int
    started_at: str
    question: str
    entropy: float
    max_entropy: float
    personas: int
    selected: int


@dataclass(frozen=True)
class GateEntropy:
    """Entropy per routed round; `summary` says in words whether the router is decisive."""

    points: list[EntropyPoint]
    mean_ratio: float | None
    summary: str
    round_limit: int


def _entropy_point(round_: Round) -> EntropyPoint | None:
    routing = round_.routing or {}
    if "entropy" not in routing:
        return None
    decisions = routing.get("decisions") or []
    question = " ".join(round_.user_message.split())
    return EntropyPoint(
        round_.id, as_utc(round_.started_at).isoformat(),
        question if len(question) <= 80 else question[:79] + "…",
        float(routing["entropy"]), round(math.log2(len(decisions)), 3) if decisions else 0.0,
        len(decisions), sum(1 for d in decisions if d.get("selected")))


def entropy_summary(points: list[EntropyPoint]) -> tuple[float | None, str]:
    """Mean entropy as a share of its maximum, in words: 0 = always sure, 1 = never."""
    ratios = [p.entropy / p.max_entropy for p in points if p.max_entropy > 0]
    if not ratios:
        return None, "No routed rounds with more than one persona yet."
    ratio = sum(ratios) / len(ratios)
    if ratio < 0.5:
        verdict = "the router is decisive: it puts most weight on a few personas"
    elif ratio < 0.85:
        verdict = "the router leans towards some personas but hedges"
    else:
        verdict = ("the router is unsure: it spreads weight almost evenly (votes teach it; a "
                   "lower COUNCIL_ROUTER_TEMPERATURE sharpens it)")
    return ratio, f"On average {ratio:.0%} of the maximum entropy: {verdict}."


def gate_entropy(session: Session, limit: int = HISTORY_ROUNDS) -> GateEntropy:
    """The gate's entropy in bits for each recent round that has a routing record."""
    points = [p for p in map(_entropy_point, recent_rounds(session, limit)) if p is not None]
    ratio, summary = entropy_summary(points)
    return GateEntropy(points, None if ratio is None else round(ratio, 3), summary, limit)


# --- leaderboard -----------------------------------------------------------------------------


def leaderboard_rows(session: Session) -> list[LeaderboardRow]:
    """The Leaderboard page's ratings: the same fit, so both pages agree."""
    return leaderboard(session, list_personas(session))


# --- similarity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimilarityCell:
    """Mean cosine similarity over `rounds` shared questions; None when they shared none."""

    mean: float | None
    rounds: int


@dataclass(frozen=True)
class SimilarityFlag:
    """A pair whose answers are alike on average; `alike`: of its `rounds` shared questions,
    those where the two answers were at least the threshold alike."""

    a: PersonaRef
    b: PersonaRef
    similarity: float
    rounds: int
    message: str
    alike: int = 0


@dataclass(frozen=True)
class SimilarityMatrix:
    """A symmetric persona × persona matrix; the diagonal is 1 for personas that answered."""

    personas: list[PersonaRef]
    cells: list[list[SimilarityCell]]
    flags: list[SimilarityFlag]
    threshold: float
    rounds: int
    answers: int
    round_limit: int
    errors: list[str] = field(default_factory=list)


def shared_answers(rounds: list[Round], persona_ids: set[int]) -> list[dict[int, str]]:
    """Per round, the finished answer text of each known persona (first answer if several)."""
    per_round = []
    for round_ in rounds:
        texts: dict[int, str] = {}
        for answer in round_.answers:
            if (answer.status == "done" and answer.persona_id in persona_ids
                    and answer.text.strip()):
                texts.setdefault(answer.persona_id, answer.text)
        if texts:
            per_round.append(texts)
    return per_round


# Answer vectors kept between requests, one bounded cache per embedder object.
_ANSWER_CACHES: WeakKeyDictionary[Any, EmbeddingCache] = WeakKeyDictionary()


def embed_answers(embedder: Embedder, texts: list[str]) -> dict[str, np.ndarray]:
    """Each distinct answer embedded once per process: embedding is the slow part of the page
    (MiniLM on CPU: seconds per hundred long answers) and a finished answer never changes."""
    try:
        cache = _ANSWER_CACHES.setdefault(embedder, EmbeddingCache(
            max_entries=EMBEDDING_CACHE_SIZE))
    except TypeError:  # an embedder without weak references: no caching, still correct
        cache = EmbeddingCache()
    unique = list(dict.fromkeys(texts))
    return dict(zip(unique, cache.embed(unique, embedder).astype(np.float64)))


def pair_cosines(per_round: list[dict[int, str]], vectors: dict[str, np.ndarray]
                 ) -> dict[tuple[int, int], list[float]]:
    """The cosine per shared question for each pair (a < b) that answered the same question."""
    cosines: dict[tuple[int, int], list[float]] = {}
    for texts in per_round:
        ids = sorted(texts)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                cosine = float(np.clip(vectors[texts[a]] @ vectors[texts[b]], -1.0, 1.0))
                cosines.setdefault((a, b), []).append(cosine)
    return cosines


def _pair(a: PersonaRef, b: PersonaRef) -> tuple[int, int]:
    first, second = sorted((a.persona_id or 0, b.persona_id or 0))
    return first, second


def flag_message(a: PersonaRef, b: PersonaRef, similarity: float, rounds: int) -> str:
    """The flag in words; under MIN_SHARED_QUESTIONS it says the evidence is too thin to act."""
    questions = "question" if rounds == 1 else "questions"
    advice = ("rewrite one's system prompt or merge them" if rounds >= MIN_SHARED_QUESTIONS
              else f"too few shared questions to act on ({MIN_SHARED_QUESTIONS} needed)")
    return (f"{a.name} and {b.name} answer alike ({similarity:.2f} over {rounds} {questions}): "
            f"{advice}")


def similarity_matrix(personas: list[PersonaRef], answered: Counter[int],
                      cosines: dict[tuple[int, int], list[float]],
                      threshold: float) -> tuple[list[list[SimilarityCell]], list[SimilarityFlag]]:
    """The full symmetric matrix and the pairs at or above `threshold`, most alike first."""
    cells: list[list[SimilarityCell]] = []
    flags: list[SimilarityFlag] = []
    for i, a in enumerate(personas):
        row = []
        for j, b in enumerate(personas):
            if i == j:
                count = answered[a.persona_id] if a.persona_id is not None else 0
                row.append(SimilarityCell(1.0 if count else None, count))
                continue
            shared = cosines.get(_pair(a, b), [])
            count = len(shared)
            mean = round(sum(shared) / count, 4) if count else None
            row.append(SimilarityCell(mean, count))
            if mean is not None and i < j and mean >= threshold:
                flags.append(SimilarityFlag(a, b, mean, count, flag_message(a, b, mean, count),
                                            sum(1 for c in shared if c >= threshold)))
        cells.append(row)
    flags.sort(key=lambda flag: -flag.similarity)
    return cells, flags


def persona_similarity(session: Session, embedder: Embedder, limit: int = SIMILARITY_ROUNDS,
                       threshold: float = SIMILARITY_THRESHOLD) -> SimilarityMatrix:
    """Mean cosine similarity of each pair's finished answers to the same recent questions."""
    personas = list(_persona_refs(session).values())
    ids = {p.persona_id for p in personas if p.persona_id is not None}
    per_round = shared_answers(recent_rounds(session, limit, with_answers=True), ids)
    texts = [text for answers in per_round for text in answers.values()]
    errors: list[str] = []
    try:
        vectors = embed_answers(embedder, texts)
    except Exception as exc:  # noqa: BLE001  (the other charts should still show)
        errors.append(f"Could not embed the answers: {exc}")
        per_round, vectors = [], {}
    answered: Counter[int] = Counter(pid for answers in per_round for pid in answers)
    cells, flags = similarity_matrix(personas, answered, pair_cosines(per_round, vectors),
                                     threshold)
    return SimilarityMatrix(personas, cells, flags, threshold, len(per_round), len(texts), limit,
                            errors)


# --- everything ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyticsReport:
    rounds_total: int
    utilisation: Utilisation
    entropy: GateEntropy
    leaderboard: list[LeaderboardRow]
    similarity: SimilarityMatrix


def analytics_report(session: Session, embedder: Embedder) -> AnalyticsReport:
    """Every view of the Analytics page, from one session."""
    return AnalyticsReport(count_rounds(session), persona_utilisation(session),
                           gate_entropy(session), leaderboard_rows(session),
                           persona_similarity(session, embedder))

