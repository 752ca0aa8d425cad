"""The mixture-of-experts router: which personas speak for a message, and how much each counts.

For every enabled persona a logit adds up (1) the message's similarity to the persona's
prototype, (2) the example gate, fitted on every enabled persona's examples (`examples.py`),
and the vote gate, learned online from votes (`learning.py`), (3) a merit prior from votes,
(4) the persona's own rules and (5) an exploration bonus that shrinks as the persona is shown
more. A softmax with a temperature turns logits into weights (summing to 1), bounded by the
persona's rules; the top k at or above a minimum weight speak, and a persona unseen for too
many rounds is given a turn.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Flask
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import EXPLORATION_LOCK, hold_process_lock
from ..discovery.modes import ModeSpace
from ..embeddings import Embedder, unit_rows
from ..embeddings.sentence import SentenceEmbedder
from ..extensions import get_settings
from ..features import FeatureExtractor, MessageFeatures
from ..models import AppState, Persona, RouterStats, RoutingExample
from .examples import ExampleGate, fit_example_gate, mode_prototypes
from .gate import bound_weights, select_top_k, softmax
from .learning import LearnedGate
from .rules import rule_adjustment

ROUNDS_KEY = "router_rounds"


@dataclass(frozen=True)
class RouteDecision:
    persona: Persona
    weight: float
    selected: bool
    reason: str


@dataclass(frozen=True)
class Route:
    features: MessageFeatures
    decisions: list[RouteDecision]
    chosen_by_user: bool = False  # the user picked who speaks, not the router

    @property
    def selected(self) -> list[RouteDecision]:
        return [d for d in self.decisions if d.selected]

    def entropy(self) -> float:
        """Gate entropy in bits: 0 = decisive, log2(n) = unsure."""
        weights = np.array([d.weight for d in self.decisions])
        weights = weights[weights > 0]
        return float(-(weights * np.log2(weights)).sum())

    def record(self) -> dict[str, Any]:
        """What the round stores and the browser charts."""
        return {"features": self.features.summary(), "entropy": round(self.entropy(), 3),
                "chosen_by_user": self.chosen_by_user,
                "decisions": [{"persona_id": d.persona.id, "name": d.persona.name,
                               "color": d.persona.color, "weight": round(d.weight, 4),
                               "selected": d.selected, "reason": d.reason}
                              for d in self.decisions]}


class Router:
    """Holds the embedder, the personas' embedded texts and the two learned gates for one app.

    The vote gate is the replay of the stored vote examples; the example gate is refitted when
    the personas, their texts or their stored cluster examples change.
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.extractor = FeatureExtractor(embedder)
        self.gate = LearnedGate()
        self.example_gate: ExampleGate | None = None
        # imported personas' mode prototypes when the council has a mode space (fitted with
        # the example gate, which holds the space)
        self.mode_prototypes: dict[int, np.ndarray] = {}
        self.texts: dict[int, tuple[str, np.ndarray]] = {}
        self.example_key: tuple[Any, ...] | None = None  # what `example_gate` was fitted on
        self.fit_lock = threading.Lock()
        self.stats_lock = threading.Lock()  # held while exploration counts are updated

    # --- state ---------------------------------------------------------------------------

    def load(self, session: Session) -> None:
        """Rebuild the vote gate from the stored vote examples (after a start, a reset or a
        retracted vote)."""
        rows = session.execute(select(RoutingExample.persona_id, RoutingExample.embedding,
                                      RoutingExample.label)
                               .where(RoutingExample.source == "vote")
                               .order_by(RoutingExample.id))
        self.gate.replay(rows)

    def reset(self, session: Session) -> None:
        """Forget what votes taught: their examples, merit, counts. The votes stay for the
        leaderboard, and imported personas keep their cluster examples."""
        session.execute(delete(RoutingExample).where(RoutingExample.source == "vote"))
        session.execute(delete(RouterStats))
        session.execute(delete(AppState).where(AppState.key == ROUNDS_KEY))
        self.gate.replay([])

    def persona_texts(self, persona: Persona) -> np.ndarray:
        """The embeddings of the persona's description and example messages (kept per text)."""
        key = _texts_key(persona)
        cached = self.texts.get(persona.id)
        if cached is None or cached[0] != key:
            cached = (key, self.extractor.embedder.encode(_texts(persona)))
            self.texts[persona.id] = cached
        return cached[1]

    def similarity(self, persona: Persona, embedding: np.ndarray) -> float:
        """How alike the message and the persona are: to its prototype, and for a mode persona
        also in the mode space its cluster was found in (after `example_scores` fitted it),
        whichever is less. A way of asking shared across subjects (a "should I…" about a
        friend, a style of the Python cluster) does not make a message more alike than its
        subject is to the cluster's messages, the one measure the shipped personas have."""
        topic = float(embedding @ self.prototype(persona))
        mode = self.mode_prototypes.get(persona.id)
        if mode is not None and self.example_gate and self.example_gate.space:
            return min(float(self.example_gate.space.rows(embedding[None, :])[0] @ mode), topic)
        return topic

    def prototype(self, persona: Persona) -> np.ndarray:
        """The persona's centroid if discovery gave one, else its description and examples."""
        if persona.centroid:
            return unit_rows(np.asarray(persona.centroid, dtype=np.float32))
        return unit_rows(self.persona_texts(persona).mean(axis=0))

    def example_scores(self, session: Session, personas: list[Persona],
                       embedding: np.ndarray) -> dict[int, float]:
        """The example gate's score per persona (fitted first if what it learns from changed)."""
        gate = self.fit_examples(session, personas)
        return gate.scores(embedding) if gate else {}

    def fit_examples(self, session: Session, personas: list[Persona]) -> ExampleGate | None:
        """Fit the example gate and the mode prototypes on the enabled `personas` if what they
        learn from changed. An import calls it, so the next question does not wait for it."""
        stored = session.execute(select(func.count(RoutingExample.id), func.max(RoutingExample.id))
                                 .where(*_cluster_examples(personas))).one()
        key = (tuple(stored), *((p.id, _texts_key(p)) for p in personas))
        with self.fit_lock:
            if key != self.example_key:
                clusters = self._cluster_examples(session, personas)
                space = _mode_space(personas, clusters)
                examples = {p.id: clusters[p.id] if len(clusters[p.id]) else self.persona_texts(p)
                            for p in personas}
                # Without an import the examples are the prototypes' own texts: a gate fitted
                # on them would count each prototype twice and only sharpen the weights.
                self.example_gate = fit_example_gate(examples, space) if any(
                    len(rows) for rows in clusters.values()) else None
                self.mode_prototypes = mode_prototypes(
                    space, {p.id: clusters[p.id] for p in personas if p.mode_space}
                ) if space else {}
                self.example_key = key
            return self.example_gate

    def _cluster_examples(self, session: Session,
                          personas: list[Persona]) -> dict[int, np.ndarray]:
        """Each persona's stored cluster messages (none for a persona not imported). The
        example gate learns from them, else from the persona's description and example
        messages (some of them are its cluster's). An older import's negative rows are left
        out: every persona's examples are the others' negatives."""
        clusters: dict[int, list[list[float]]] = {p.id: [] for p in personas}
        for persona_id, embedding in session.execute(
                select(RoutingExample.persona_id, RoutingExample.embedding)
                .where(*_cluster_examples(personas)).order_by(RoutingExample.id)):
            clusters[persona_id].append(embedding)
        return {persona_id: np.asarray(rows, dtype=np.float32) for persona_id, rows in
                clusters.items()}

    # --- routing ---------------------------------------------------------------------------

    def route(self, session: Session, personas: list[Persona], text: str,
              merit: dict[int, tuple[float, float]] | None = None,
              chosen_by_user: Collection[int] = ()) -> Route:
        """Weigh every enabled persona for `text`; `merit` is (wins, losses) per persona.

        `chosen_by_user` (persona ids) overrides who speaks; the weights are still the
        router's, so the synthesizer and the chart say how well each suits the question.
        """
        merit = merit or {}
        features = self.extractor.extract(text)
        enabled = [p for p in personas if p.enabled]
        if not enabled:
            return Route(features, [])
        settings = self.settings
        stats = {s.persona_id: s for s in session.scalars(select(RouterStats))}
        total = _rounds_routed(session)
        examples = self.example_scores(session, enabled, features.embedding)
        logits, reasons, forced = [], [], []
        for index, persona in enumerate(enabled):
            stat = stats.get(persona.id)
            shown = stat.shown if stat else 0
            wins, losses = merit.get(persona.id, (0.0, 0.0))
            similarity = self.similarity(persona, features.embedding)
            pull = similarity * settings.router_similarity_scale
            # The example gate may double a persona's similarity pull but never lifts a
            # persona the message is unlike (its examples say nothing about such a message).
            example = min(examples.get(persona.id, 0.0) * settings.router_gate_strength,
                          max(pull, 0.0))
            voted = self.gate.score(persona.id, features.embedding) * settings.router_gate_strength
            prior = 0.5 * math.log((wins + 1) / (losses + 1)) * settings.router_merit_strength
            rules, rule_reasons = rule_adjustment(persona.routing_rules or {}, features, text,
                                                  settings.router_rule_strength)
            explore = settings.router_exploration * math.sqrt(math.log(total + 1) / (shown + 1))
            logits.append(pull + example + voted + prior + rules + explore)
            parts = [f"similarity {similarity:.2f}"]
            parts += [f"{name} {value:+.2f}" for name, value in
                      (("example gate", example), ("vote gate", voted), ("merit", prior),
                       ("exploration", explore))
                      if abs(value) >= 0.01]
            parts += rule_reasons
            waited = total - (stat.last_shown if stat else 0)
            if total and waited >= settings.router_max_unseen:
                forced.append(index)
                parts.append(f"given a turn after {waited} rounds unseen")
            reasons.append(parts)
        weights = bound_weights(
            softmax(logits, settings.router_temperature),
            [(p.routing_rules or {}).get("min_weight", 0.0) for p in enabled],
            [(p.routing_rules or {}).get("max_weight", 1.0) for p in enabled])
        if chosen_by_user:
            chosen = [i for i, p in enumerate(enabled) if p.id in chosen_by_user]
            for i in chosen:
                reasons[i].append("chosen by you")
        else:
            chosen = select_top_k(weights, settings.router_top_k, settings.router_min_weight,
                                  forced)
        decisions = [RouteDecision(p, float(weights[i]), i in chosen, "; ".join(reasons[i]))
                     for i, p in enumerate(enabled)]
        decisions.sort(key=lambda d: -d.weight)
        return Route(features, decisions, bool(chosen_by_user))

    def record_shown(self, session: Session, route: Route) -> None:
        """Count this routing for exploration: who was shown, and in which round.

        The counts are read-modify-write rows: the caller holds `stats_lock` against this
        process's other round starts, and the database lock here against other processes'.
        """
        hold_process_lock(session, EXPLORATION_LOCK)
        total = _rounds_routed(session) + 1
        AppState.write(session, ROUNDS_KEY, total)
        for decision in route.selected:
            stat = _stats_for(session, decision.persona.id)
            stat.shown += 1
            stat.last_shown = total

    # --- learning ----------------------------------------------------------------------------

    def learn(self, session: Session, vote_id: int, embedding: np.ndarray,
              labels: dict[int, int]) -> None:
        """Store labelled examples from a vote and update the gate online, one example each."""
        for persona_id, label in labels.items():
            session.add(RoutingExample(persona_id=persona_id, label=label, source="vote",
                                       vote_id=vote_id, embedding=embedding.tolist()))
            self.gate.learn(persona_id, embedding, label)

    def embed(self, text: str) -> np.ndarray:
        return self.extractor.embedder.encode([text])[0]


def _cluster_examples(personas: list[Persona]) -> tuple[ColumnElement[bool], ...]:
    """Where the personas' stored cluster messages are."""
    return (RoutingExample.source == "cluster", RoutingExample.label == 1,
            RoutingExample.persona_id.in_([p.id for p in personas]))


def _mode_space(personas: list[Persona], clusters: dict[int, np.ndarray]) -> ModeSpace | None:
    """The mode space of the latest imported persona that has one (an import's personas share
    theirs), or None: the council is compared on topic embeddings."""
    spaces = [p.mode_space for p in sorted(personas, key=lambda p: p.id)
              if p.mode_space and len(clusters[p.id])]
    return ModeSpace.from_record(spaces[-1]) if spaces else None


def _texts(persona: Persona) -> list[str]:
    return [persona.description or persona.name, *(persona.example_messages or [])]


def _texts_key(persona: Persona) -> str:
    return hashlib.sha256("\n".join(_texts(persona)).encode()).hexdigest()


def _rounds_routed(session: Session) -> int:
    return int(AppState.read(session, ROUNDS_KEY, 0))


def _stats_for(session: Session, persona_id: int) -> RouterStats:
    stat = session.get(RouterStats, persona_id)
    if stat is None:
        stat = RouterStats(persona_id=persona_id, shown=0, last_shown=0)
        session.add(stat)
    return stat


def init_app(app: Flask, embedder: Embedder | None = None) -> Router:
    settings = get_settings(app)
    router = Router(settings, embedder or SentenceEmbedder(settings.embedding_model))
    app.extensions["council_router"] = router
    return router
