"""The router: weights, selection, rules, exploration, learning from votes, persistence."""

from __future__ import annotations

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select

from council.db import session_scope
from council.extensions import get_router
from council.llm.demo_server import DemoServer
from council.models import Persona, Round, WorkerAnswer
from council.personas import create_persona, list_personas
from council.router.gate import bound_weights, select_top_k, softmax
from council.router.generation import tune_for_sentiment
from council.router.rules import RuleError, validate_rules
from council.votes import merit_counts, record_vote
from tests.rows import new_round

CODE_QUESTION = "Why does my Python function raise a KeyError when the dict looks fine?"


def route(app: Flask, text: str) -> dict[str, tuple[float, bool, str]]:
    with session_scope(app) as session:
        result = get_router(app).route(session, list_personas(session), text,
                                       merit_counts(session))
        return {d.persona.name: (d.weight, d.selected, d.reason) for d in result.decisions}


def test_softmax_bounds_and_top_k_selection() -> None:
    weights = softmax([2.0, 1.0, 0.0, -1.0], temperature=1.0)
    assert weights.sum() == pytest.approx(1.0) and list(np.argsort(-weights)) == [0, 1, 2, 3]
    assert softmax([2.0, 0.0], 0.5)[0] > softmax([2.0, 0.0], 2.0)[0], "lower temperature = sharper"

    bounded = bound_weights(weights, [0.0, 0.0, 0.0, 0.2], [0.4, 1.0, 1.0, 1.0])
    assert bounded.sum() == pytest.approx(1.0)
    assert bounded[0] == pytest.approx(0.4) and bounded[3] == pytest.approx(0.2)

    assert select_top_k(weights, k=2, min_weight=0.0) == [0, 1]
    assert select_top_k(weights, k=3, min_weight=0.2) == [0, 1]
    assert select_top_k(np.array([0.25] * 4), k=2, min_weight=0.9) == [0], "one always speaks"
    assert select_top_k(weights, k=2, min_weight=0.0, forced=[3]) == [0, 3]


def test_weights_cover_every_enabled_persona_and_respect_k(make_app, settings) -> None:
    app = make_app(settings.with_changes(router_top_k=2, router_min_weight=0.05))
    with session_scope(app) as session:
        list_personas(session)[0].enabled = False
    weights = route(app, CODE_QUESTION)
    assert len(weights) == 3 and "Architect" not in weights
    assert sum(w for w, _, _ in weights.values()) == pytest.approx(1.0)
    selected = [name for name, (_, chosen, _) in weights.items() if chosen]
    assert 1 <= len(selected) <= 2
    assert all(weights[name][0] >= 0.05 for name in selected)
    assert all("similarity" in reason for _, _, reason in weights.values())


def test_prototypes_send_messages_to_the_matching_persona(app: Flask) -> None:
    weights = route(app, "What if we built a city with no cars? Brainstorm wild ideas!")
    assert max(weights, key=lambda name: weights[name][0]) == "Explorer"
    weights = route(app, "This keeps crashing with a segfault and I have no idea why, I hate it")
    assert max(weights, key=lambda name: weights[name][0]) == "Skeptic"


def test_a_persona_rule_moves_its_weight_the_declared_way(app: Flask) -> None:
    upset = "I'm furious, the deploy failed again and everything is broken and awful."
    with session_scope(app) as session:
        pragmatist = session.scalar(select(Persona).where(Persona.slug == "pragmatist"))
        pragmatist.routing_rules = {}
    before = route(app, upset)["Pragmatist"][0]
    with session_scope(app) as session:
        session.scalar(select(Persona).where(Persona.slug == "pragmatist")).routing_rules = {
            "prefer": ["negative"]}
    preferred = route(app, upset)["Pragmatist"]
    assert preferred[0] > before and "prefers negative" in preferred[2]
    with session_scope(app) as session:
        session.scalar(select(Persona).where(Persona.slug == "pragmatist")).routing_rules = {
            "avoid": ["keyword:deploy"], "max_weight": 0.1}
    avoided = route(app, upset)["Pragmatist"]
    assert avoided[0] < before and avoided[0] <= 0.1 + 1e-9
    assert "avoids keyword:deploy" in avoided[2]


@pytest.mark.parametrize("rules,message", [
    ({"prefer": ["sunny"]}, "unknown condition"),
    ({"prefer": "negative"}, "must be a list"),
    ({"min_weight": 0.8, "max_weight": 0.2}, "above max_weight"),
    ({"boost": 1}, "unknown routing keys"),
    ({"min_weight": 2}, "from 0 to 1"),
])
def test_bad_rules_are_refused_with_the_reason(rules: dict, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        validate_rules(rules)


def test_exploration_gives_a_never_chosen_persona_a_turn(make_app, settings) -> None:
    app = make_app(settings.with_changes(router_top_k=1, router_max_unseen=5))
    with session_scope(app) as session:
        create_persona(session, {"name": "Knitter", "system_prompt": "You knit.",
                                 "description": "Knitting patterns, yarn and needles.",
                                 "example_messages": ["Which yarn for a winter scarf?"]})
    router = get_router(app)
    turns = []
    for _ in range(7):
        with session_scope(app) as session:
            decision = router.route(session, list_personas(session), CODE_QUESTION)
            router.record_shown(session, decision)
            turns.append([d.persona.name for d in decision.selected])
    assert turns[0] != ["Knitter"]
    knitter_turn = next(i for i, names in enumerate(turns) if "Knitter" in names)
    assert knitter_turn <= 5, turns
    assert all(len(names) == 1 for names in turns)


def _voted_round(app: Flask, question: str, names: list[str]) -> tuple[int, dict[str, int]]:
    """A finished round with one done answer per named persona (no LLM needed)."""
    with session_scope(app) as session:
        round_ = new_round(session, question, status="done")
        answers = {}
        for persona in list_personas(session):
            if persona.name in names:
                answer = WorkerAnswer(round_id=round_.id, persona_id=persona.id,
                                      persona_name=persona.name, model="m", status="done",
                                      text=f"{persona.name} says hi")
                session.add(answer)
                session.flush()
                answers[persona.name] = answer.id
        return round_.id, answers


def test_a_vote_moves_the_router_toward_the_voted_persona(app: Flask, make_app,
                                                          settings) -> None:
    similar = "Why does my Python code throw a KeyError on a dictionary lookup?"
    before = route(app, similar)["Explorer"][0]
    round_id, answers = _voted_round(app, CODE_QUESTION, ["Explorer", "Skeptic", "Architect"])
    with session_scope(app) as session:
        record_vote(session, get_router(app), round_id, "best", answers["Explorer"])
    after = route(app, similar)
    assert after["Explorer"][0] > before
    assert "vote gate +" in after["Explorer"][2] and "merit +" in after["Explorer"][2]
    unrelated_before = route(app, "Plan a birthday party for my grandmother.")

    restarted = make_app(settings)
    assert route(restarted, similar) == after, "router state survives a restart exactly"

    with restarted.test_client() as client:
        assert client.post("/router/reset").status_code == 302
    reset = route(restarted, similar)["Explorer"]
    assert reset[0] == pytest.approx(before, rel=1e-6)
    assert route(restarted, "Plan a birthday party for my grandmother.") != unrelated_before


def test_sentiment_tunes_sampling_within_bounds(settings) -> None:
    calm_t, calm_p = tune_for_sentiment(0.7, 0.9, -0.9, settings)
    free_t, free_p = tune_for_sentiment(0.7, 0.9, 0.9, settings)
    assert calm_t < 0.7 < free_t and calm_p < 0.9 < free_p <= 1.0
    assert tune_for_sentiment(0.7, 0.9, 0.0, settings) == (0.7, 0.9)
    assert tune_for_sentiment(1.25, 0.9, 1.0, settings)[0] == 1.3, "capped at the upper bound"
    assert tune_for_sentiment(1.8, 0.9, 0.0, settings)[0] == 1.8, "a user's own value is kept"


def test_only_selected_workers_run_and_weights_are_stored(make_app, settings, connect,
                                                          demo_server: DemoServer) -> None:
    app = make_app(settings.with_changes(router_top_k=2))
    result = connect(app).ask("I'm so frustrated, why does my build keep failing?")
    started = result.one("round_started")
    decisions = started["routing"]["decisions"]
    assert len(decisions) == 4
    assert sum(d["weight"] for d in decisions) == pytest.approx(1.0, abs=1e-3)
    selected = [d for d in decisions if d["selected"]]
    assert len(selected) == 2 == len(started["workers"]) == len(result.named("worker_done"))
    assert {w["persona_id"] for w in started["workers"]} == {d["persona_id"] for d in selected}
    assert started["routing"]["features"]["sentiment"]["compound"] < 0
    worker_models = [r for r in demo_server.requests if r["model"] == "qwen2.5:3b"]
    assert len(worker_models) == 2
    assert all(r["options"]["temperature"] < 0.9 for r in worker_models)
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        assert round_.routing["decisions"] == decisions
        stored = {a.persona_id: a.weight for a in round_.answers}
        assert stored == {d["persona_id"]: d["weight"] for d in selected}
