"""Imported personas join the council without taking it over (issue 14, fair routing).

Real discovery runs on two exports, the ShareGPT export of tests/exports.py (three clean
topics) and the real Dutch/English ChatGPT export in the fixtures, at the default topic/style
balance, so their personas are modes compared in their mode space; every fourth message of
each cluster is held out before the import, and every discovered persona is imported next to
the four shipped ones. Then: held-out messages go to their cluster's
persona, general questions spread over the council, and Pragmatist's
`prefer: [question:how, question:should_i]` still brings it the "should I…" questions.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select

from council.db import session_scope
from council.discovery.importer import import_discovered, load_discovery
from council.discovery.modes import DEFAULT_BALANCE
from council.discovery.pipeline import DiscoveryOptions, run_discovery
from council.embeddings.sentence import SentenceEmbedder
from council.extensions import get_router
from council.files import PersonaFiles
from council.models import Persona
from council.personas import list_personas
from council.router import Route
from tests.exports import PKUPPENS, write_sharegpt_export

# A real discovery run on the real export sets the module up inside its first test (about
# 20 s alone, several times that on two shared cores).
pytestmark = pytest.mark.timeout(300)

HELD_OUT_EVERY = 4

GENERAL_QUESTIONS = [
    "What's a good way to learn a new language as an adult?",
    "Explain how vaccines train the immune system.",
    "Why is the sky blue?",
    "Can you recommend a few classic science fiction novels?",
    "How do I politely decline a wedding invitation?",
    "What are the pros and cons of working from home?",
    "Help me plan a three-day trip to Lisbon.",
    "What is the difference between a virus and a bacterium?",
    "How does compound interest work?",
    "Give me a weekly workout plan for a beginner.",
    "What caused the fall of the Roman Empire?",
    "How do I get my toddler to sleep through the night?",
    "Write a short poem about autumn leaves.",
    "What's the best way to prepare for a job interview?",
    "How do solar panels turn light into electricity?",
    "Summarise the plot of Hamlet in a few sentences.",
    "What are some tips for taking better photos with my phone?",
    "How can I reduce my household's energy bill?",
    "Which houseplants are hard to kill?",
    "What is a black hole?",
    "How do I write a cover letter for a career change?",
    "What are good habits for managing stress?",
    "Explain the rules of cricket simply.",
    "How do I negotiate a higher salary?",
    "What should I pack for a week of hiking in Norway?",
    "How does a bill become a law in the United States?",
    "Give me ideas for a rainy-day activity with kids.",
    "What is the meaning of the word 'serendipity'?",
    "How do I remove a red wine stain from a carpet?",
    "Why do cats purr?",
    "What are the main causes of climate change?",
    "How do I start journaling and keep it up?",
    "Translate 'good morning, how are you?' into Spanish.",
    "Who painted the Sistine Chapel ceiling, and how long did it take?",
    "How do I change a flat tyre on my bike?",
    "What is the healthiest way to lose weight?",
    "Recommend some podcasts about history.",
    "How should I talk to my manager about burnout?",
    "What are the signs of a good friendship?",
    "Explain inflation like I'm ten.",
    "How many hours of sleep does an adult need?",
    "What's the etiquette for tipping in Japan?",
    "How do noise-cancelling headphones work?",
    "Tell me a fun fact about octopuses.",
]

SHOULD_I_QUESTIONS = [
    "Should I buy or rent a house in Amsterdam?",
    "Should I take the job offer in Berlin or stay where I am?",
    "Should I learn Rust or Go next?",
    "Should I repaint the kitchen myself or hire someone?",
    "Should we move our savings into index funds?",
    "Should I tell my friend that her boyfriend is cheating?",
]


class Discovered:
    """A discovery run with every HELD_OUT_EVERY-th message of each cluster taken out of its
    cluster file (so the import never sees it) and kept here by slug."""

    def __init__(self, root: Path, export: Path, clusters: int | None, balance: float,
                 embedder: SentenceEmbedder) -> None:
        full = root / "full"
        run_discovery(DiscoveryOptions(input=export, data_dir=full, clusters=clusters,
                                       balance=balance), embedder, None, "unused")
        self.data_dir = root / "imported"
        shutil.copytree(full, self.data_dir)
        self.prompts, analysis = load_discovery(full)
        self.held_out: dict[str, list[str]] = {}
        for slug in analysis:
            rows = list(PersonaFiles(full).cluster_rows(slug))
            held = [i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 for i in range(len(rows))]
            self.held_out[slug] = [row["embedding_text"] for row, out in zip(rows, held) if out]
            PersonaFiles(self.data_dir).cluster_messages(slug).write_text(
                "".join(json.dumps(row) + "\n" for row, out in zip(rows, held) if not out),
                encoding="utf-8")


@pytest.fixture(scope="module", params=["sharegpt", "pkuppens"])
def discovered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               embedder: SentenceEmbedder) -> Discovered:
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "sharegpt":
        export = root / "export.json"
        write_sharegpt_export(export)
        return Discovered(root, export, 3, DEFAULT_BALANCE, embedder)
    return Discovered(root, PKUPPENS, None, DEFAULT_BALANCE, embedder)


@pytest.fixture
def council(make_app, settings, discovered: Discovered) -> Flask:
    """The shipped personas plus every discovered one, routed as the app is configured by
    default (three speak, none below 5%), without exploration so routes are repeatable."""
    app = make_app(settings.with_changes(router_top_k=3, router_min_weight=0.05,
                                         router_exploration=0.0))
    with session_scope(app) as session:
        summary = import_discovered(session, get_router(app), discovered.data_dir,
                                    discovered.prompts)
    assert len(summary.created) == len(discovered.prompts)
    return app


def route(app: Flask, text: str) -> Route:
    with session_scope(app) as session:
        return get_router(app).route(session, list_personas(session), text)


def slug_of(decision_route: Route) -> str:
    return decision_route.decisions[0].persona.slug


def test_held_out_messages_reach_their_clusters_persona(council: Flask,
                                                        discovered: Discovered) -> None:
    shares = {}
    for slug, texts in discovered.held_out.items():
        assert texts, f"{slug} has too few messages to hold any out"
        shares[slug] = np.mean([slug_of(route(council, text)) == slug for text in texts])
    assert min(shares.values()) >= 0.8, shares


def test_mode_clusters_are_compared_in_the_space_they_were_found_in(
        council: Flask, discovered: Discovered) -> None:
    recorded = json.loads(PersonaFiles(discovered.data_dir).cluster_analysis.read_text())
    router = get_router(council)
    route(council, "How do I read a CSV file in Python?")
    with session_scope(council) as session:
        imported = [p for p in list_personas(session) if p.source == "import"]
        spaces = {json.dumps(p.mode_space) for p in imported}
    assert spaces == {json.dumps(recorded["mode_space"])}
    assert router.example_gate.space.balance == recorded["balance"] == DEFAULT_BALANCE
    assert set(router.mode_prototypes) >= {p.id for p in imported}


def test_no_persona_takes_over_general_questions(council: Flask) -> None:
    assert len(GENERAL_QUESTIONS) >= 40
    picks = Counter(slug_of(route(council, text)) for text in GENERAL_QUESTIONS)
    assert max(picks.values()) <= len(GENERAL_QUESTIONS) / 2, picks
    assert len(picks) >= 4, f"the questions went to few personas: {picks}"


def test_the_example_gate_never_lifts_a_persona_the_message_is_unlike(
        council: Flask, settings) -> None:
    """What sent the Amsterdam question to a cluster at similarity 0.00 with the gate at +3:
    the example gate's lift is at most the similarity's own pull, and it does push down."""
    pushed_down = 0
    for text in GENERAL_QUESTIONS + SHOULD_I_QUESTIONS:
        for decision in route(council, text).decisions:
            similarity = float(re.search(r"similarity (-?[\d.]+)", decision.reason)[1])
            gate = re.search(r"example gate ([-+][\d.]+)", decision.reason)
            lift = float(gate[1]) if gate else 0.0
            assert lift <= max(similarity * settings.router_similarity_scale, 0.0) + 0.05, \
                (text, decision.persona.name, decision.reason)
            pushed_down += lift < 0
    assert pushed_down, "the gate also says which personas a message is not for"


def test_should_i_questions_reach_the_persona_whose_rule_asks_for_them(
        council: Flask, discovered: Discovered) -> None:
    # Near the top-3 cut the weights move with the CPU's arithmetic: the embedder runs in
    # bfloat16 where the CPU has it and in fp32 elsewhere, and on an AVX2-only machine (fp32)
    # the Berlin question seats Pragmatist 4th, 0.06 behind the 3rd, on the pkuppens export.
    # So one question of six may miss the seat; the rule must still hold on every one and
    # raise Pragmatist on every one (below).
    missed = []
    for text in SHOULD_I_QUESTIONS:
        decisions = {d.persona.slug: d for d in route(council, text).decisions}
        pragmatist = decisions["pragmatist"]
        assert "prefers question:should_i" in pragmatist.reason
        if not pragmatist.selected:
            missed.append((text, pragmatist.weight, pragmatist.reason))
    assert len(missed) <= 1, missed

    with session_scope(council) as session:
        session.scalar(select(Persona).where(Persona.slug == "pragmatist")).routing_rules = {}
    without_rule = {text: route(council, text).decisions for text in SHOULD_I_QUESTIONS}
    with session_scope(council) as session:
        session.scalar(select(Persona).where(Persona.slug == "pragmatist")).routing_rules = {
            "prefer": ["question:how", "question:should_i"]}
    for text, decisions in without_rule.items():
        weight = next(d.weight for d in decisions if d.persona.slug == "pragmatist")
        with_rule = next(d.weight for d in route(council, text).decisions
                         if d.persona.slug == "pragmatist")
        assert with_rule > weight, "the rule is what raises it"


def test_a_rule_wins_against_an_imported_personas_gate(make_app, settings,
                                                       embedder: SentenceEmbedder,
                                                       tmp_path: Path) -> None:
    """The case of the issue: cooking, Python and marketing clusters imported, "Should I buy
    or rent a house in Amsterdam?" goes to Pragmatist first."""
    export = tmp_path / "export.json"
    write_sharegpt_export(export)
    data_dir = tmp_path / "personas"
    run_discovery(DiscoveryOptions(input=export, data_dir=data_dir, clusters=3), embedder,
                  None, "unused")
    app = make_app(settings.with_changes(router_exploration=0.0))
    with session_scope(app) as session:
        import_discovered(session, get_router(app), data_dir, load_discovery(data_dir)[0])
    first = route(app, SHOULD_I_QUESTIONS[0]).decisions[0]
    assert first.persona.slug == "pragmatist", first.reason


def test_the_router_after_an_import_survives_a_restart_exactly(council: Flask, make_app,
                                                                settings) -> None:
    before = [[(d.persona.id, d.weight, d.reason) for d in route(council, text).decisions]
              for text in GENERAL_QUESTIONS[:5]]
    restarted = make_app(settings.with_changes(router_top_k=3, router_min_weight=0.05,
                                               router_exploration=0.0))
    after = [[(d.persona.id, d.weight, d.reason) for d in route(restarted, text).decisions]
             for text in GENERAL_QUESTIONS[:5]]
    assert after == before
