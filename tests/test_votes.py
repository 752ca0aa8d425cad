"""Votes over HTTP: best (changeable), thumbs down (toggles), tie; the leaderboard follows."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.models import RoutingExample, Vote
from council.votes import pairwise_outcomes

pytestmark = pytest.mark.both_databases


def _vote(client, round_id: int, kind: str, answer_id: int | None = None):
    return client.post(f"/api/rounds/{round_id}/votes", json={"kind": kind, "answer_id": answer_id})


def test_best_is_one_per_round_and_changeable(app: Flask, sio) -> None:
    result = sio.ask("Which language should I learn first?")
    answers = [w["answer_id"] for w in result.one("round_started")["workers"]]
    client = app.test_client()

    first = _vote(client, result.round_id, "best", answers[0]).get_json()
    assert [(v["kind"], v["answer_id"]) for v in first["votes"]] == [("best", answers[0])]
    changed = _vote(client, result.round_id, "best", answers[1]).get_json()
    assert [(v["kind"], v["answer_id"]) for v in changed["votes"]] == [("best", answers[1])]
    with session_scope(app) as session:
        vote = session.scalar(select(Vote))
        assert vote.weights and abs(sum(vote.weights.values()) - 1) < 1e-3
        examples = session.scalars(select(RoutingExample)).all()
        assert {e.vote_id for e in examples} == {vote.id}, "the replaced vote's lessons are gone"
        assert sorted(e.label for e in examples) == [-1, -1, -1, 1]
        outcomes = pairwise_outcomes(session)
        assert len(outcomes) == 3 and all(o.winner == vote.persona_id for o in outcomes)

    tie = _vote(client, result.round_id, "tie").get_json()
    assert [v["kind"] for v in tie["votes"]] == ["tie"], "a tie replaces the best vote"
    with session_scope(app) as session:
        outcomes = pairwise_outcomes(session)
        assert len(outcomes) == 6 and all(o.tie for o in outcomes)
        assert session.scalar(select(func.count(RoutingExample.id))) == 0


def test_thumbs_down_toggles(app: Flask, sio) -> None:
    result = sio.ask("Is it worth rewriting our backend in Rust?")
    answer = result.one("round_started")["workers"][2]["answer_id"]
    client = app.test_client()
    down = _vote(client, result.round_id, "down", answer).get_json()["votes"]
    assert [(v["kind"], v["answer_id"]) for v in down] == [("down", answer)]
    assert _vote(client, result.round_id, "down", answer).get_json()["votes"] == []
    with session_scope(app) as session:
        assert session.scalar(select(func.count(RoutingExample.id))) == 0


def test_bad_votes_get_clear_errors(app: Flask, sio, demo_server: DemoServer) -> None:
    result = sio.ask("Tabs or spaces?")
    client = app.test_client()
    assert _vote(client, 999, "best", 1).status_code == 404
    wrong = _vote(client, result.round_id, "best", 12345)
    assert wrong.status_code == 400 and "not part of this round" in wrong.get_json()["error"]
    unknown = _vote(client, result.round_id, "meh")
    assert unknown.status_code == 400 and "Unknown vote" in unknown.get_json()["error"]
    assert client.post(f"/api/rounds/{result.round_id}/votes", data="x").status_code == 400

    demo_server.set_fault("broken:1b", "http_500")
    with session_scope(app) as session:
        from council.personas import list_personas

        list_personas(session)[0].model = "broken:1b"
    failed = sio.ask("Another question")
    broken = next(d for d in failed.named("worker_done") if d["status"] == "failed")
    refused = _vote(client, failed.round_id, "best", broken["answer_id"])
    assert refused.status_code == 400 and "no text to judge" in refused.get_json()["error"]


def test_leaderboard_ranks_the_preferred_persona_first(app: Flask, sio) -> None:
    client = app.test_client()
    assert b"No votes yet" in client.get("/leaderboard").data
    favourite = None
    for question in ("How do I learn SQL?", "What is a closure?", "Explain DNS to me."):
        result = sio.ask(question)
        workers = result.one("round_started")["workers"]
        pick = next(w for w in workers if w["name"] == "Pragmatist")
        favourite = pick["persona_id"]
        assert _vote(client, result.round_id, "best", pick["answer_id"]).status_code == 200
    board = client.get("/api/leaderboard").get_json()
    assert board[0]["persona_id"] == favourite
    assert board[0]["votes_received"] == 3 and board[0]["win_rate"] == 1.0
    assert board[0]["rounds_shown"] == 3 and board[0]["lower"] <= board[0]["rating"]
    assert board[-1]["rating"] < 1000
    page = client.get("/leaderboard").data
    assert b"Pragmatist" in page and b"95% interval" in page


def test_the_synthesizer_sees_ratings_after_votes(app: Flask, sio,
                                                  demo_server: DemoServer) -> None:
    """Ratings order the drafts (never shown as figures, which a small model recites)."""
    def synthesis_request() -> str:
        synth = next(r for r in demo_server.requests if r["model"] == "qwen2.5:7b")
        demo_server.requests.clear()
        return synth["messages"][-1]["content"]

    demo_server.requests.clear()
    result = sio.ask("How should I name variables?")
    assert "preferred" not in synthesis_request()
    pick = result.one("round_started")["workers"][0]["answer_id"]
    assert _vote(app.test_client(), result.round_id, "best", pick).status_code == 200
    sio.ask("And functions?", result.ack["conversation_id"])
    after = synthesis_request()
    assert "how often the user preferred it" in after and "rating" not in after


def test_votes_are_counted_per_variant_for_the_adapter_ab(app: Flask, sio,
                                                           demo_server: DemoServer) -> None:
    from council.models import Persona
    from council.training.register import served_record

    client = app.test_client()
    demo_server.add_model("persona-pragmatist")
    with session_scope(app) as session:
        persona = session.scalars(select(Persona).where(Persona.slug == "pragmatist")).one()
        persona.adapter_model, persona.variant = "persona-pragmatist", "lora"
        persona.adapter_served = served_record("ollama", "persona-pragmatist",
                                               [{"host": demo_server.url, "method": "adapter"}])
    assert b"No persona has answered through a LoRA adapter" in client.get("/leaderboard").data

    def round_voting(question: str, winner: str) -> str:
        result = sio.ask(question)
        workers = result.one("round_started")["workers"]
        pick = next(w for w in workers if w["name"] == winner)
        assert _vote(client, result.round_id, "best", pick["answer_id"]).status_code == 200
        return next(w["model"] for w in workers if w["name"] == "Pragmatist")

    assert {round_voting(q, "Pragmatist") for q in ("Cache or not?", "Which queue?")} == \
        {"persona-pragmatist"}
    switched = client.post("/api/training/pragmatist/variant", json={"variant": "prompt"})
    assert switched.get_json()["model"] == "qwen2.5:3b"
    assert {round_voting(q, "Skeptic") for q in ("Rewrite it?", "Add tests first?",
                                                 "Ship on Friday?")} == {"qwen2.5:3b"}
    rows = {r["variant"]: r for r in client.get("/api/leaderboard/variants").get_json()}
    assert rows["lora"]["rounds_shown"] == 2 and rows["lora"]["best_votes"] == 2
    assert rows["lora"]["win_rate"] == 1.0 and rows["lora"]["interval"][1] == 1.0
    assert rows["prompt"]["rounds_shown"] == 3 and rows["prompt"]["best_votes"] == 0
    assert rows["prompt"]["win_rate"] == 0.0 and 0 < rows["prompt"]["interval"][1] < 0.6
    assert b"Adapter A/B" in client.get("/leaderboard").data


def test_cached_ratings_follow_every_change_of_the_votes(app: Flask, sio) -> None:
    """Ratings are kept between views; changing the best answer (SQLite may reuse the retracted
    vote's id), a tie, and deleting a persona must each show at once."""
    from council.leaderboard import leaderboard, point_ratings
    from council.personas import list_personas
    from council.votes import merit_counts

    result = sio.ask("Should we cache the API responses or the database queries?")
    workers = result.one("round_started")["workers"]
    first, second = workers[0], workers[1]
    client = app.test_client()

    def top() -> tuple[int, dict[int, float], dict[int, tuple[float, float]]]:
        with session_scope(app) as session:
            rows = leaderboard(session, list_personas(session), bootstrap_rounds=5)
            return rows[0].persona_id, point_ratings(session), merit_counts(session)

    _vote(client, result.round_id, "best", first["answer_id"])
    leader, points, merit = top()
    assert leader == first["persona_id"] and merit[first["persona_id"]][0] == len(workers) - 1
    assert top() == (leader, points, merit), "unchanged votes give the same figures"
    _vote(client, result.round_id, "best", second["answer_id"])
    leader, points, merit = top()
    assert leader == second["persona_id"] and points[second["persona_id"]] > points[
        first["persona_id"]]
    _vote(client, result.round_id, "tie")
    _, points, merit = top()
    assert len(set(round(v, 6) for v in points.values())) == 1, "a tie rates everyone alike"
    with session_scope(app) as session:
        from council.models import Persona

        session.delete(session.get(Persona, second["persona_id"]))
    _, points, merit = top()
    assert second["persona_id"] not in points and second["persona_id"] not in merit


def test_best_undoes_itself_and_excludes_a_thumbs_down_on_the_same_answer(app: Flask,
                                                                        sio) -> None:
    result = sio.ask("Should we use Postgres or SQLite for a small app?")
    first, second = (w["answer_id"] for w in result.one("round_started")["workers"][:2])
    client = app.test_client()

    def kinds(response) -> list[tuple[str, int | None]]:
        return [(v["kind"], v["answer_id"]) for v in response.get_json()["votes"]]

    assert kinds(_vote(client, result.round_id, "down", first)) == [("down", first)]
    assert kinds(_vote(client, result.round_id, "best", first)) == [("best", first)], \
        "best replaces the thumbs down on the same answer"
    assert kinds(_vote(client, result.round_id, "down", first)) == [("down", first)], \
        "and the other way round"
    _vote(client, result.round_id, "best", second)
    assert kinds(_vote(client, result.round_id, "best", second)) == [("down", first)], \
        "the same best again undoes it"
    _vote(client, result.round_id, "tie")
    assert kinds(_vote(client, result.round_id, "tie")) == [("down", first)]
    with session_scope(app) as session:
        assert pairwise_outcomes(session) == []
        assert {e.vote_id for e in session.scalars(select(RoutingExample))} == {
            session.scalar(select(Vote.id).where(Vote.kind == "down"))}


def test_a_stopped_round_is_judged_on_the_text_it_got_to(app: Flask, sio,
                                                        demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.05
    ack = sio.call("ask", {"conversation_id": None, "text": "Explain B-trees in depth."})
    while True:
        event, data = sio.events.get(timeout=30)
        if event == "worker_token":
            break
    sio.call("stop_round", {"round_id": ack["round_id"]})
    events = sio.collect_until("round_done", ack["round_id"])
    stopped = {d["answer_id"]: d for e, d in events if e == "worker_done"}
    partial = [a for a, d in stopped.items() if d["status"] == "stopped" and d["text"].strip()]
    empty = [a for a, d in stopped.items() if not d["text"].strip()]
    assert partial, "at least the worker that streamed a token has text"
    client = app.test_client()
    best = _vote(client, ack["round_id"], "best", partial[0])
    assert best.status_code == 200, best.get_json()
    for answer in empty:
        refused = _vote(client, ack["round_id"], "down", answer)
        assert refused.status_code == 400 and "no text to judge" in refused.get_json()["error"]
    tie = _vote(client, ack["round_id"], "tie")
    if len(partial) < 2:
        assert tie.status_code == 400 and "at least two answers" in tie.get_json()["error"]
    else:
        assert tie.status_code == 200


def test_a_blind_vote_is_kept_as_blind(app: Flask, sio) -> None:
    result = sio.ask("Which editor should I learn?")
    answer = result.one("round_started")["workers"][0]["answer_id"]
    client = app.test_client()
    votes = client.post(f"/api/rounds/{result.round_id}/votes",
                        json={"kind": "best", "answer_id": answer, "blind": True}).get_json()
    assert [v["blind"] for v in votes["votes"]] == [True]
    bad = client.post(f"/api/rounds/{result.round_id}/votes",
                      json={"kind": "tie", "blind": "yes"})
    assert bad.status_code == 400 and "blind" in bad.get_json()["error"]
    with session_scope(app) as session:
        assert session.scalar(select(Vote.blind)) is True
