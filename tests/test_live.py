"""A conversation is followed, not a socket: a tab that opens it mid-round (a reload, a second
tab) gets what has streamed so far and the rest as it comes, and may stop the round."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from council.llm.demo_server import DemoServer
from tests.sockets import CouncilClient


def first_token(client: CouncilClient) -> dict:
    while True:
        event, data = client.events.get(timeout=30)
        if event == "worker_token":
            return data


def test_a_tab_opened_mid_round_gets_the_text_so_far_and_the_rest(
        connect: Callable[..., CouncilClient], demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.02
    asker, late = connect(), connect()
    ack = asker.call("ask", {"conversation_id": None, "text": "How do I cache API calls?"})
    assert ack["ok"], ack
    first_token(asker)  # the round is streaming now
    opened = late.call("open_conversation", {"conversation_id": ack["conversation_id"]})
    assert opened["ok"], opened
    [round_] = opened["conversation"]["rounds"]
    assert round_["round_id"] == ack["round_id"] and round_["status"] == "running"
    texts = {w["answer_id"]: w["text"] for w in round_["workers"]}
    counts = {w["answer_id"]: w.get("tokens", 0) for w in round_["workers"]}
    assert any(texts.values()), "the snapshot holds what streamed before the tab opened"

    events = late.collect_until("round_done", ack["round_id"])
    for event, data in events:
        if event == "worker_token" and data["index"] >= counts[data["answer_id"]]:
            assert data["index"] == counts[data["answer_id"]], "no token is skipped"
            texts[data["answer_id"]] += data["delta"]
            counts[data["answer_id"]] += 1
    done = {d["answer_id"]: d["text"] for _, d in events if _ == "worker_done"}
    assert done and all(texts[answer] == text for answer, text in done.items()), \
        "snapshot + later tokens = the whole answer"
    assert [e for e, _ in events].count("round_done") == 1


def test_any_tab_of_the_conversation_can_stop_the_round(
        connect: Callable[..., CouncilClient], demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.05
    asker, other = connect(), connect()
    ack = asker.call("ask", {"conversation_id": None, "text": "Write a long essay on caching."})
    other.call("open_conversation", {"conversation_id": ack["conversation_id"]})
    first_token(other)
    assert other.call("stop_round", {"round_id": ack["round_id"]})["ok"]
    for client in (asker, other):
        done = client.collect_until("round_done", ack["round_id"])[-1][1]
        assert done["status"] == "stopped"


def test_a_tab_follows_only_the_conversation_it_shows(
        app: Flask, connect: Callable[..., CouncilClient]) -> None:
    asker, elsewhere = connect(), connect()
    first = asker.ask("What is a B-tree?")
    assert elsewhere.call("open_conversation", {"conversation_id": first.ack["conversation_id"]})["ok"]
    assert elsewhere.call("open_conversation", {"conversation_id": None}) == {
        "ok": True, "conversation": None}
    second = asker.ask("And a B+ tree?", conversation_id=first.ack["conversation_id"])
    # one socket gets its events in order: had it still followed the first conversation, the
    # second round's events would come before those of its own round, asked after it ended
    own = elsewhere.ask("Tabs or spaces?")
    assert {data["round_id"] for _, data in own.events} == {own.round_id}, \
        "a tab that left the conversation gets none of its events"
    assert second.round_id != own.round_id
    missing = elsewhere.call("open_conversation", {"conversation_id": 10**6})
    assert missing == {"ok": False, "error": "No such conversation: it may have been deleted."}
