"""1,000 votes from 20 concurrent HTTP clients: every one stored once, the ratings agree."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from council.db import session_scope
from council.extensions import get_council
from council.models import Conversation, Round, RoutingExample, Vote, WorkerAnswer
from council.personas import list_personas
from council.votes import pairwise_outcomes
from tests.sockets import LiveServer

pytestmark = pytest.mark.both_databases

ROUNDS = 250  # x (1 best + 3 thumbs down) = 1,000 votes
CLIENTS = 20


def finished_rounds(app: Flask) -> tuple[list[tuple[int, list[int]]], int]:
    """ROUNDS finished rounds with one answer per shipped persona; (round, answers), favourite."""
    with session_scope(app) as session:
        personas = list_personas(session)
        conversation = Conversation(title="load")
        session.add(conversation)
        session.flush()
        rounds = []
        for n in range(ROUNDS):
            round_ = Round(conversation_id=conversation.id, user_message=f"Question {n}?",
                           status="done")
            session.add(round_)
            session.flush()
            answers = [WorkerAnswer(round_id=round_.id, persona_id=p.id, persona_name=p.name,
                                    model="qwen2.5:3b", status="done", text=f"Answer {n}")
                       for p in personas]
            session.add_all(answers)
            session.flush()
            rounds.append((round_.id, [a.id for a in answers]))
        return rounds, personas[0].id


def test_a_thousand_concurrent_votes_are_stored_exactly_once(app: Flask) -> None:
    rounds, favourite = finished_rounds(app)
    # every round: the first persona's answer is best, the three others get a thumbs down
    votes = [(round_id, "best", answers[0]) for round_id, answers in rounds]
    votes += [(round_id, "down", answer) for round_id, answers in rounds for answer in answers[1:]]
    random.Random(7).shuffle(votes)
    assert len(votes) == 1000
    server = LiveServer(app)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(share: list[tuple[int, str, int]]) -> None:
        with requests.Session() as http:
            for round_id, kind, answer in share:
                response = http.post(f"{server.url}/api/rounds/{round_id}/votes",
                                     json={"kind": kind, "answer_id": answer}, timeout=60)
                with lock:
                    statuses[response.status_code] += 1

    try:
        threads = [threading.Thread(target=client, args=(votes[i::CLIENTS],))
                   for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        server.close()
    assert statuses == {200: 1000}

    with session_scope(app) as session:
        counts = dict(session.execute(select(Vote.kind, func.count(Vote.id))
                                      .group_by(Vote.kind)).all())
        assert counts == {"best": 250, "down": 750}
        assert session.scalar(select(func.count(func.distinct(Vote.round_id)))
                              .where(Vote.kind == "best")) == 250
        outcomes = pairwise_outcomes(session)
        assert len(outcomes) == 250 * 3 and all(o.winner == favourite for o in outcomes)
        assert session.scalar(select(func.count(RoutingExample.id))
                              .where(RoutingExample.source == "vote")) >= 1000
    board = app.test_client().get("/api/leaderboard").get_json()
    assert board[0]["persona_id"] == favourite and board[0]["votes_received"] == 250
    assert board[0]["win_rate"] == 1.0 and all(r["votes_received"] == 0 for r in board[1:])


def test_simultaneous_first_rounds_all_start_and_count(app: Flask, settings, connect) -> None:
    """Eight tabs asking at the same instant on a fresh database: every ask is acknowledged
    and the router's exploration counts add up (no duplicate rows, no lost updates)."""
    from council.models import AppState, RouterStats
    from council.router import ROUNDS_KEY

    clients = [connect(app) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    acks: list[dict] = []

    def ask(client) -> None:
        barrier.wait()
        acks.append(client.call("ask", {"conversation_id": None, "text": "At once?"}))

    threads = [threading.Thread(target=ask, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(acks) == 8 and all(a["ok"] for a in acks), acks
    for ack in acks:
        get_council(app).wait(ack["round_id"], timeout=30)
    with session_scope(app) as session:
        assert session.get(AppState, ROUNDS_KEY).value == 8
        shown = session.scalar(select(func.sum(RouterStats.shown)))
        assert shown == 8 * settings.router_top_k
