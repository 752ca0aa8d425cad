"""Peer review: anonymised, shuffled, strictly parsed rankings, averaged for the synthesizer."""

from __future__ import annotations

import pytest
from flask import Flask

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.models import Round
from council.peer_review import aggregate_rankings, build_review, parse_ranking
from council.personas import list_personas

LABELS = {"A": 11, "B": 12, "C": 13}


def test_reviewers_see_the_others_anonymised_and_shuffled() -> None:
    answers = {1: "answer one", 2: "answer two", 3: "answer three", 4: "answer four"}
    request = build_review(2, "You are the Skeptic.", "Q?", answers, seed="7:2")
    assert sorted(request.labels.values()) == [1, 3, 4] and list(request.labels) == ["A", "B", "C"]
    prompt = request.messages[1]["content"]
    assert "answer two" not in prompt and "Skeptic" not in prompt
    assert "FINAL RANKING: A, B, C" in prompt
    orders = {tuple(build_review(2, "s", "Q?", answers, seed=f"{n}:2").labels.values())
              for n in range(10)}
    assert len(orders) > 1, "the order is shuffled per round"


@pytest.mark.parametrize("text,expected", [
    ("B is best.\nFINAL RANKING: B, A, C", [12, 11, 13]),
    ("**FINAL RANKING:** Response C > Response A > Response B", [13, 11, 12]),
    ("FINAL RANKING: A, B, C\nOn reflection:\nFINAL RANKING: C, B, A", [13, 12, 11]),
    ("I like B the most, then A.", None),
    ("FINAL RANKING: B, A", None),
    ("FINAL RANKING: B, B, A", None),
    ("FINAL RANKING: B, A, D", None),
])
def test_rankings_are_parsed_strictly_never_guessed(text: str, expected: list[int] | None) -> None:
    assert parse_ranking(text, LABELS) == expected


def test_rankings_average_into_mean_positions() -> None:
    summary = aggregate_rankings([[1, 2, 3], [2, 1, 3], [1, 3]])
    assert summary == [(1, pytest.approx(4 / 3), 3), (2, 1.5, 2), (3, pytest.approx(8 / 3), 3)]


def test_a_round_with_peer_review(make_app, settings, connect, demo_server: DemoServer) -> None:
    app: Flask = make_app(settings.with_changes(peer_review=True))
    with session_scope(app) as session:
        list_personas(session)[1].model = "stubborn:3b"
    demo_server.set_fault("stubborn:3b", "ignore_format")
    result = connect(app).ask("How should I plan a database migration?")
    workers = {w["answer_id"]: w for w in result.one("round_started")["workers"]}
    started = result.one("review_started")["reviews"]
    assert len(started) == 4
    done = result.named("review_done")
    assert len(done) == 4
    parsed = [d for d in done if d["status"] == "done"]
    unparseable = [d for d in done if d["status"] == "unparseable"]
    assert len(parsed) == 3 and len(unparseable) == 1
    assert workers[unparseable[0]["reviewer_answer_id"]]["model"] == "stubborn:3b"
    assert unparseable[0]["ranking"] is None and "FINAL RANKING" in unparseable[0]["error"]
    for review in parsed:
        assert review["reviewer_answer_id"] not in review["ranking"]
        assert sorted(review["ranking"]) == sorted(review["labels"].values())

    ranking = result.one("peer_ranking")["ranking"]
    assert sum(item["reviews"] for item in ranking) == 3 * 3
    assert [item["mean_position"] for item in ranking] == sorted(
        item["mean_position"] for item in ranking)
    synth_request = next(r for r in demo_server.requests if r["model"] == "qwen2.5:7b")
    assert "peer rank" in synth_request["messages"][-1]["content"]
    names = [name for name, _ in result.events]
    assert names.index("peer_ranking") < names.index("synth_started")
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        assert round_.peer_ranking == ranking
        stored = {r.reviewer_answer_id: r for r in round_.reviews}
        assert len(stored) == 4
        assert stored[unparseable[0]["reviewer_answer_id"]].status == "unparseable"
        assert {a: (r.status, r.ranking) for a, r in stored.items()} == {
            d["reviewer_answer_id"]: (d["status"], d["ranking"]) for d in done}
        assert all(r.text for r in stored.values())


def test_peer_review_is_off_by_default(app: Flask, sio) -> None:
    result = sio.ask("Quick question: tabs or spaces?")
    assert not result.named("review_started") and not result.named("peer_ranking")
    with session_scope(app) as session:
        assert session.get(Round, result.round_id).peer_ranking is None
    asked = sio.call("ask", {"conversation_id": None, "text": "Now with review",
                             "peer_review": True})
    events = sio.collect_until("round_done", asked["round_id"])
    assert any(name == "peer_ranking" for name, _ in events)
