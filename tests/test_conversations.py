"""The conversation list's search and a conversation's export, on stored rows.

Why: the browser test proves the page uses them; these pin what the page cannot show cheaply:
a search's own % and _ are taken literally, a match found in a question says so, and the
Markdown transcript marks answers that did not finish, the votes and a tie.
"""

from __future__ import annotations

import pytest
from flask import Flask

from council.db import session_scope
from council.models import Synthesis, Vote, WorkerAnswer
from tests.rows import new_round

pytestmark = pytest.mark.both_databases


def stored_conversation(app: Flask, title: str, question: str) -> int:
    """A finished round in a conversation of its own: two answers (one stopped), a synthesis,
    a best vote and a thumbs down; returns the conversation's id."""
    with session_scope(app) as session:
        round_ = new_round(session, question, status="done")
        round_.conversation.title = title
        answers = [WorkerAnswer(round_id=round_.id, persona_name="Skeptic", model="m1",
                                weight=0.6, status="done", text="Check the **numbers**."),
                   WorkerAnswer(round_id=round_.id, persona_name="Explorer", model="m2",
                                weight=0.4, status="stopped", text="Perhaps")]
        session.add_all([*answers, Synthesis(round_id=round_.id, model="big", status="done",
                                             text="Measure first.")])
        session.flush()
        session.add_all([Vote(round_id=round_.id, kind="best", answer_id=answers[0].id),
                         Vote(round_id=round_.id, kind="down", answer_id=answers[1].id)])
        return round_.conversation_id


def test_search_matches_titles_and_questions_literally(app: Flask) -> None:
    sale = stored_conversation(app, "50% off, really?", "Is the sale worth it?")
    offers = stored_conversation(app, "5000 offers", "Which offer_code applies?")
    client = app.test_client()

    def found(query: str) -> list[dict[str, str]]:
        return client.get("/api/conversations", query_string={"q": query}).get_json()

    assert [c["id"] for c in found("")] == [offers, sale]
    assert [c["id"] for c in found("0%")] == [sale]
    assert [c["id"] for c in found("OFFER_")] == [offers]
    (by_question,) = found("sale worth")
    assert by_question["id"] == sale and by_question["match"] == "Is the sale worth it?"
    assert "match" not in found("50%")[0]
    assert found("nowhere") == []


def test_export_downloads_markdown_and_json(app: Flask) -> None:
    conversation = stored_conversation(app, "Pricing", "Should we **raise** prices?")
    client = app.test_client()

    markdown = client.get(f"/api/conversations/{conversation}/export.md")
    assert markdown.status_code == 200 and markdown.mimetype == "text/markdown"
    assert markdown.headers["Content-Disposition"] == \
        f'attachment; filename="conversation-{conversation}-pricing.md"'
    text = markdown.get_data(as_text=True)
    assert text.startswith("# Pricing\n")
    assert "## Round 1\n\n**Question**\n\nShould we **raise** prices?\n" in text
    assert "### Skeptic · m1 · ★ best\n\n_Router weight 60%_\n\nCheck the **numbers**.\n" in text
    assert "### Explorer · m2 · ▼ thumbs down\n\n_Router weight 40%_\n\nPerhaps\n\n_stopped_\n" \
        in text
    assert "### Council answer · big\n\nMeasure first.\n" in text

    exported = client.get(f"/api/conversations/{conversation}/export.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    data = exported.get_json()
    assert data["title"] == "Pricing"
    (round_,) = data["rounds"]
    assert round_["user_message"] == "Should we **raise** prices?"
    assert [(w["name"], w["status"], w["text"]) for w in round_["workers"]] == [
        ("Skeptic", "done", "Check the **numbers**."), ("Explorer", "stopped", "Perhaps")]
    assert round_["synthesis"]["text"] == "Measure first."
    answer_ids = [w["answer_id"] for w in round_["workers"]]
    assert [(v["kind"], v["answer_id"]) for v in round_["votes"]] == [
        ("best", answer_ids[0]), ("down", answer_ids[1])]

    for suffix in ("md", "json"):
        missing = client.get(f"/api/conversations/999/export.{suffix}")
        assert missing.status_code == 404
        assert missing.get_json() == {"error": "No such conversation."}


def test_the_list_comes_a_page_at_a_time_newest_first(app: Flask) -> None:
    """Why: a flood of conversations must not make every list request read them all."""
    client = app.test_client()
    made = [client.post("/api/conversations", json={"title": f"Talk {i}"}).get_json()["id"]
            for i in range(7)]
    newest_first = made[::-1]
    assert [c["id"] for c in client.get("/api/conversations?limit=3").get_json()] \
        == newest_first[:3]
    assert [c["id"] for c in client.get("/api/conversations?limit=3&offset=3").get_json()] \
        == newest_first[3:6]
    assert [c["id"] for c in client.get("/api/conversations?limit=3&offset=6").get_json()] \
        == newest_first[6:]
    assert [c["id"] for c in client.get("/api/conversations?q=Talk&limit=2").get_json()] \
        == newest_first[:2]
    for bad in ("limit=0", "limit=501", "limit=abc", "offset=-1", "limit=" + "9" * 40):
        response = client.get(f"/api/conversations?{bad}")
        assert response.status_code == 400 and "whole number" in response.get_json()["error"]
