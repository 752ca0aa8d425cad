"""Choosing who answers: @mentions in the question or the page's picker override the router
for that round, and the round says so."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from council.db import session_scope
from council.personas import list_personas
from council.rounds.choice import chosen_personas
from council.rounds.plan import RoundError
from tests.sockets import CouncilClient


def one_speaker(make_app: Callable, settings) -> Flask:
    """An app whose router lets one persona speak, so a choice of several is visibly the
    user's. Built in the test, after the `connect` fixture's own app: the shared Socket.IO
    object serves the app bound last."""
    return make_app(settings.with_changes(router_top_k=1))


def names(result) -> set[str]:
    return {w["name"] for w in result.one("round_started")["workers"]}


def test_mentions_pick_personas_by_name_or_slug(app: Flask) -> None:
    with session_scope(app) as session:
        personas = list_personas(session)
        by_name = {p.name: p.id for p in personas}
        assert chosen_personas("@skeptic and @Explorer, what do you think?", (), personas).ids == {
            by_name["Skeptic"], by_name["Explorer"]}
        assert chosen_personas("@everyone: tabs or spaces?", (), personas).ids == set(
            by_name.values())
        missed = chosen_personas("Why does @property fail? mail me at a@b.c", (), personas)
        assert missed.ids == set(), "a mention that names no persona leaves it to the router"
        assert missed.notice.startswith("@property names no persona."), "and the round says so"
        picked = chosen_personas("@Skeptic? @nobody", [by_name["Pragmatist"]], personas)
        assert picked.ids == {by_name["Pragmatist"]}, "the picker wins over the text"
        assert picked.notice is None
        personas[0].enabled = False
        with pytest.raises(RoundError, match="Only enabled personas"):
            chosen_personas("hi", [personas[0].id], personas)
        assert personas[0].id not in chosen_personas("@everyone", (), personas).ids


def test_a_mentioned_persona_answers_instead_of_the_router_pick(
        make_app: Callable, settings, connect: Callable[..., CouncilClient]) -> None:
    client = connect(one_speaker(make_app, settings))
    routed = client.ask("What could go wrong if we cache everything forever?")
    assert len(names(routed)) == 1
    assert routed.one("round_started")["routing"]["chosen_by_user"] is False
    chosen = client.ask("@Skeptic @Pragmatist what could go wrong with caching?")
    assert names(chosen) == {"Skeptic", "Pragmatist"}
    routing = chosen.one("round_started")["routing"]
    assert routing["chosen_by_user"] is True
    assert all(("chosen by you" in d["reason"]) == d["selected"] for d in routing["decisions"])
    assert abs(sum(d["weight"] for d in routing["decisions"]) - 1) < 1e-3, \
        "the router's weights stay, for the chart and the synthesizer"
    assert chosen.one("round_done")["status"] == "done"


def test_the_picker_sends_ids_or_everyone(make_app: Callable, settings,
                                         connect: Callable[..., CouncilClient]) -> None:
    app = one_speaker(make_app, settings)
    with session_scope(app) as session:
        ids = {p.name: p.id for p in list_personas(session)}
    client = connect(app)
    ack = client.call("ask", {"conversation_id": None, "text": "Plan my week.",
                              "personas": [ids["Architect"], ids["Explorer"]]})
    assert ack["ok"]
    started = client.collect_until("round_done", ack["round_id"])[0][1]
    assert {w["name"] for w in started["workers"]} == {"Architect", "Explorer"}
    everyone = client.call("ask", {"conversation_id": None, "text": "Plan my year.",
                                   "personas": "everyone"})
    events = client.collect_until("round_done", everyone["round_id"])
    assert len(events[0][1]["workers"]) == len(ids)
    bad = client.call("ask", {"conversation_id": None, "text": "Hi", "personas": ["Architect"]})
    assert bad == {"ok": False, "error": 'Pick personas as a list of ids, or "everyone".'}


def test_a_blind_round_keeps_the_names_from_the_synthesizer(
        app: Flask, sio: CouncilClient, demo_server) -> None:
    demo_server.requests.clear()
    ack = sio.call("ask", {"conversation_id": None, "text": "Tabs or spaces?", "blind": True})
    assert ack["ok"], ack
    events = sio.collect_until("round_done", ack["round_id"])
    workers = [w["name"] for w in events[0][1]["workers"]]
    synthesis = demo_server.requests[-1]["messages"][-1]["content"]
    assert "<draft>" in synthesis and not any(name in synthesis for name in workers)
    refused = sio.call("ask", {"conversation_id": None, "text": "Hi", "blind": "yes"})
    assert refused == {"ok": False, "error": "blind must be true or false."}

