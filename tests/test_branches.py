"""Conversations as trees: a regenerate or an edit starts a sibling round and keeps the old
one; each round sees only its own branch's history; a refused question stores nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.models import Conversation, Round
from tests.rows import database_at
from tests.sockets import CouncilClient, RoundResult

pytestmark = pytest.mark.both_databases


def ask(client: CouncilClient, text: str, conversation_id: int | None = None,
        **extra: object) -> RoundResult:
    ack = client.call("ask", {"conversation_id": conversation_id, "text": text, **extra})
    assert ack["ok"], ack
    return RoundResult(ack, client.collect_until("round_done", ack["round_id"]))


def questions_sent(demo_server: DemoServer) -> list[list[str]]:
    """The user turns each synthesis request carried (the last request of a round)."""
    return [[m["content"] for m in body["messages"] if m["role"] == "user"]
            for body in demo_server.requests]


def test_regenerate_and_edit_start_siblings_and_keep_the_old_rounds(
        app: Flask, sio: CouncilClient, demo_server: DemoServer) -> None:
    first = ask(sio, "What is a B-tree?")
    conversation = first.ack["conversation_id"]
    second = ask(sio, "And how does it differ from a B+ tree?", conversation)
    assert second.one("round_started")["parent_id"] == first.round_id

    demo_server.requests.clear()
    again = ask(sio, "And how does it differ from a B+ tree?", conversation,
                parent_round_id=first.round_id)
    assert again.one("round_started")["parent_id"] == first.round_id, "a sibling of the second"
    assert all(turns[:-1] == ["What is a B-tree?"] or len(turns) == 1
               for turns in questions_sent(demo_server)), \
        "the regenerated round sees its branch: the first question, not the round it replaces"

    demo_server.requests.clear()
    edited = ask(sio, "What is a hash index?", conversation, parent_round_id=None)
    assert edited.one("round_started")["parent_id"] is None
    assert all(len(turns) == 1 for turns in questions_sent(demo_server)), \
        "an edited first question starts a branch with no history"

    opened = sio.call("open_conversation", {"conversation_id": conversation})["conversation"]
    assert [r["round_id"] for r in opened["rounds"]] == [
        first.round_id, second.round_id, again.round_id, edited.round_id], "nothing is lost"
    assert opened["current_round_id"] == edited.round_id, "the new branch is the one shown"


def test_the_shown_branch_decides_what_the_next_question_follows(
        app: Flask, sio: CouncilClient) -> None:
    first = ask(sio, "Plan a trip to Lisbon.")
    conversation = first.ack["conversation_id"]
    other = ask(sio, "Plan a trip to Porto.", conversation, parent_round_id=None)
    client = app.test_client()
    switched = client.post(f"/api/conversations/{conversation}/current",
                           json={"round_id": first.round_id})
    assert switched.status_code == 200 and switched.get_json()["current_round_id"] == first.round_id
    follow_up = ask(sio, "Which museums?", conversation)
    assert follow_up.one("round_started")["parent_id"] == first.round_id
    assert other.round_id != follow_up.round_id

    foreign = ask(sio, "Unrelated question")
    refused = client.post(f"/api/conversations/{conversation}/current",
                          json={"round_id": foreign.round_id})
    assert refused.status_code == 404 and "not part of this conversation" in refused.get_json()[
        "error"]
    assert client.post(f"/api/conversations/{conversation}/current",
                       json={"round_id": "x"}).status_code == 400
    wrong_parent = sio.call("ask", {"conversation_id": conversation, "text": "Hi",
                                    "parent_round_id": foreign.round_id})
    assert not wrong_parent["ok"] and "not part of this conversation" in wrong_parent["error"]


@pytest.mark.parametrize("payload", [{"text": ""}, {"text": "x" * 20_001},
                                     {"text": "Hi", "personas": ["nobody"]},
                                     {"text": "Hi", "parent_round_id": "first"}])
def test_a_refused_question_stores_no_conversation(app: Flask, sio: CouncilClient,
                                                   payload: dict) -> None:
    ack = sio.call("ask", {"conversation_id": None, **payload})
    assert not ack["ok"] and ack["error"]
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Conversation.id))) == 0


def test_rounds_from_before_branches_follow_one_another(make_app: Callable[..., Flask],
                                                        settings) -> None:
    """Migration 0006 links a conversation's earlier rounds in order."""
    database_at(settings.database_url, "0005", [
        "INSERT INTO conversations (id, title, created_at, updated_at) VALUES "
        "(1, 'old', '2026-01-01', '2026-01-01'), (2, 'other', '2026-01-01', '2026-01-01')",
        *(f"INSERT INTO rounds (id, conversation_id, user_message, status, started_at) "
          f"VALUES ({round_id}, {conversation}, 'q{round_id}', 'done', '2026-01-01')"
          for round_id, conversation in ((1, 1), (2, 2), (3, 1), (4, 1)))])
    app = make_app(settings)  # upgrades to the newest revision on start
    with session_scope(app) as session:
        parents = dict(session.execute(select(Round.id, Round.parent_id)).all())
    assert parents == {1: None, 2: None, 3: 1, 4: 3}
