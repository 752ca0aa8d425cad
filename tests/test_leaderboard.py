"""The Leaderboard's view of the ratings: blind votes counted per persona and rated on their own,
provisional ratings marked on the page and in its JSON."""

from __future__ import annotations

import pytest
from flask import Flask

from council.db import session_scope
from council.models import Vote
from council.ratings import PROVISIONAL_VOTES

pytestmark = pytest.mark.both_databases


def _rounds(sio, questions: tuple[str, ...]) -> list[tuple[int, dict[str, dict]]]:
    """Ask each question; per round its id and its workers by persona name."""
    asked = []
    for question in questions:
        result = sio.ask(question)
        workers = result.one("round_started")["workers"]
        asked.append((result.round_id, {w["name"]: w for w in workers}))
    return asked


def _blind_best(app: Flask, round_id: int, worker: dict) -> None:
    """A best vote cast blind, written as the vote API will store it."""
    with session_scope(app) as session:
        session.add(Vote(round_id=round_id, kind="best", answer_id=worker["answer_id"],
                         persona_id=worker["persona_id"], weights={}, blind=True))


def test_blind_votes_are_counted_and_rated_on_their_own(app: Flask, sio) -> None:
    client = app.test_client()
    (seen, seen_workers), *blind_rounds = _rounds(
        sio, ("How do I learn SQL?", "What is a closure?", "Explain DNS to me."))
    names = set(seen_workers)
    pick = seen_workers["Pragmatist"]
    assert client.post(f"/api/rounds/{seen}/votes",
                       json={"kind": "best", "answer_id": pick["answer_id"]}).status_code == 200
    assert b"No blind votes yet" in client.get("/leaderboard?votes=blind").data
    assert all(r["blind_votes"] == 0 for r in client.get("/api/leaderboard").get_json())

    for round_id, workers in blind_rounds:
        assert set(workers) == names  # every persona answers every round: counts are exact
        _blind_best(app, round_id, workers["Skeptic"])

    every = {r["name"]: r for r in client.get("/api/leaderboard").get_json()}
    assert {(r["blind_votes"], r["rounds_shown"]) for r in every.values()} == {(2, 3)}
    assert every["Pragmatist"]["votes_received"] == 1 and every["Skeptic"]["votes_received"] == 2
    blind = client.get("/api/leaderboard?votes=blind").get_json()
    assert blind[0]["name"] == "Skeptic" and blind[0]["votes_received"] == 2
    by_name = {r["name"]: r for r in blind}
    assert {(r["blind_votes"], r["rounds_shown"], r["votes"]) for r in blind} == {(2, 2, 2)}
    assert by_name["Pragmatist"]["votes_received"] == 0
    assert by_name["Pragmatist"]["rating"] < 1000 < every["Pragmatist"]["rating"]

    page = client.get("/leaderboard").data.decode()
    assert page.count(">2 of 3</td>") == len(names)
    assert 'data-votes="all"' in page and 'href="/leaderboard?votes=blind"' in page
    blind_page = client.get("/leaderboard?votes=blind").data.decode()
    assert blind_page.count(">2 of 2</td>") == len(names)
    assert 'data-votes="blind"' in blind_page
    assert '<strong aria-current="page">blind votes only</strong>' in blind_page


def test_ratings_are_provisional_below_the_stated_number_of_votes(app: Flask, sio) -> None:
    client = app.test_client()
    round_id, workers = _rounds(sio, ("Tabs or spaces?",))[0]
    _blind_best(app, round_id, workers["Architect"])
    board = client.get("/api/leaderboard").get_json()
    assert all(r["votes"] == 1 and r["provisional"] for r in board)
    assert 700 < min(r["lower"] for r in board) and max(r["upper"] for r in board) < 1300
    page = client.get("/leaderboard").data.decode()
    assert page.count("data-provisional") == len(workers)
    assert f"fewer than {PROVISIONAL_VOTES}" in page
