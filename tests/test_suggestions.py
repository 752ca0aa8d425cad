"""Growth and pruning: each suggestion appears exactly when its evidence holds, and its action
does what it says (a discovery job on the right questions; a persona disabled, never deleted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from council import suggestions
from council.analytics import PersonaRef, SimilarityFlag, SimilarityMatrix, leaderboard_rows
from council.config import Settings
from council.db import session_scope
from council.discovery.parse import parse_export
from council.files import PersonaFiles
from council.leaderboard import LeaderboardRow
from council.models import Job, Persona, Vote
from council.personas import create_persona, list_personas
from council.ratings import RatingInterval
from council.suggestion_actions import write_questions_export
from council.suggestions import PersonaUse, Suggestion, UnsureRound, should_retire
from tests.jobs import wait_for_job
from tests.rows import add_round, routing_for
from tests.suggestion_rows import (
    SURE_WEIGHTS,
    UNSURE,
    UNSURE_WEIGHTS,
    answer_alike,
    entropy,
    route,
)


def current(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/api/suggestions")
    assert response.status_code == 200
    return response.get_json()


def kinds_of(payload: list[dict[str, Any]]) -> list[str]:
    return [s["kind"] for s in payload]


# --- grow ------------------------------------------------------------------------------------


def test_growth_is_suggested_once_enough_recent_questions_route_unsure(app: Flask) -> None:
    with session_scope(app) as session:
        route(session, [f"Sure question {k}?" for k in range(10)], SURE_WEIGHTS)
        route(session, UNSURE[:7] + UNSURE[:1], UNSURE_WEIGHTS)  # a repeat counts once
        assert suggestions.growth_suggestion(suggestions.unsure_rounds(session)) is None

        route(session, UNSURE[7:8], UNSURE_WEIGHTS)
        found = suggestions.unsure_rounds(session)
        grow = suggestions.growth_suggestion(found)
        assert found.rounds == 19 and len(found.unsure) == 8
        assert grow is not None and grow.kind == "grow" and grow.action.kind == "grow"
        figures = {f.label: f for f in grow.figures}
        assert figures["unsure questions"].value == 8
        assert figures["unsure questions"].shown == "8 of 19 (42%)"
        assert figures["top persona's weight (mean)"].value == 0.3
        assert figures["top persona's weight (mean)"].shown == "30% (an even split: 25%)"
        assert 0.95 < figures["gate entropy (mean share of its maximum)"].value <= 1.0
        assert grow.questions == [UNSURE[7], UNSURE[0], *UNSURE[6:3:-1]]  # newest first, 5
        assert "8 of the last 19 questions" in grow.message

        # Sure questions since: 8 of 29 is under the share a habit needs.
        route(session, [f"Another sure question {k}?" for k in range(10)], SURE_WEIGHTS)
        assert suggestions.growth_suggestion(suggestions.unsure_rounds(session)) is None


def test_rounds_before_the_council_changed_do_not_count(app: Flask) -> None:
    with session_scope(app) as session:
        route(session, UNSURE, UNSURE_WEIGHTS)
        assert suggestions.growth_suggestion(suggestions.unsure_rounds(session)) is not None
        create_persona(session, {"name": "Historian", "system_prompt": "You explain history."})
        found = suggestions.unsure_rounds(session)
        assert found.rounds == 0 and suggestions.growth_suggestion(found) is None


def test_grow_starts_discovery_on_just_the_unsure_questions(app: Flask,
                                                            settings: Settings) -> None:
    client = app.test_client()
    with session_scope(app) as session:
        route(session, [f"Sure question {k}?" for k in range(5)], SURE_WEIGHTS)
        route(session, UNSURE, UNSURE_WEIGHTS)
    assert kinds_of(current(client)) == ["grow"]

    response = client.post("/api/suggestions/grow", json={})
    assert response.status_code == 202, response.get_json()
    started = response.get_json()
    assert started["questions"] == len(UNSURE) and started["link"]["href"] == "/discover"
    with session_scope(app) as session:
        job = session.get(Job, started["job_id"])
        assert job is not None and job.kind == "discover"
        args = dict(job.args)
    export = settings.data_dir / "personas" / "raw_imports" / started["upload"]
    assert args["input"] == str(export) and args["upload"] == started["upload"]
    assert args["clusters"] == 2 and args["suggested"] == "grow" and len(args["rounds"]) == 9
    parsed = parse_export(export)
    assert parsed.format == "sharegpt"
    assert sorted(m.text for m in parsed.messages) == sorted(UNSURE)

    # handled: not suggested again, and a second click is refused
    assert current(client) == []
    again = client.post("/api/suggestions/grow", json={})
    assert again.status_code == 409 and "no growth suggestion" in again.get_json()["error"]

    final = wait_for_job(client, started["job_id"])[-1]
    assert final["state"] == "done", final
    result = client.get("/api/discover/result").get_json()
    assert result["run"]["upload"] == started["upload"]
    assert len(result["clusters"]) == 2
    assert sum(c["size"] for c in result["clusters"]) == len(UNSURE)


# --- merge -----------------------------------------------------------------------------------


def confirmed(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "confirm": True}


def test_personas_that_answer_alike_are_suggested_to_merge(app: Flask) -> None:
    client = app.test_client()
    with session_scope(app) as session:
        personas = answer_alike(session, best=1)  # 10 shared questions, each voted
        keep, other = personas[1], personas[0]
        keep_examples, other_examples = list(keep.example_messages), list(other.example_messages)
        other.example_messages = [*other_examples, keep_examples[0]]  # one they share
    found = current(client)
    assert kinds_of(found) == ["merge"]
    merge = found[0]
    assert merge["action"]["url"] == "/api/suggestions/merge"
    assert merge["action"]["body"] == {"keep": keep.id, "disable": other.id}  # the better rated
    assert merge["action"]["confirm"].startswith(f"Disable {other.name}?")
    figures = {f["label"]: f for f in merge["figures"]}
    assert figures["answer similarity (mean cosine)"]["value"] >= 0.99
    assert figures["shared questions"]["value"] == 10
    assert figures["shared questions"]["shown"] == \
        "10 shared questions, answers alike on 10 (100%, 95% CI 72–100%)"
    assert "alike (cosine 0.90 or more) on 10 (100%, 95% CI 72–100%)" in merge["message"]
    assert "; 10 votes, provisional)" in figures[f"{keep.name}: rating"]["shown"]
    assert f"keeps {keep.name}" in merge["message"]
    assert kinds_of(client.get("/api/analytics").get_json()["suggestions"]) == ["merge"]

    unasked = client.post(merge["action"]["url"], json=merge["action"]["body"])
    assert unasked.status_code == 400 and "confirm it first" in unasked.get_json()["error"]
    with session_scope(app) as session:
        assert session.get(Persona, other.id).enabled  # type: ignore[union-attr]

    response = client.post(merge["action"]["url"], json=confirmed(merge["action"]["body"]))
    assert response.status_code == 200, response.get_json()
    done = response.get_json()
    assert done["kept"]["id"] == keep.id and done["disabled"]["id"] == other.id
    assert done["examples_added"] == len(other_examples)
    with session_scope(app) as session:
        kept, disabled = session.get(Persona, keep.id), session.get(Persona, other.id)
        assert kept is not None and disabled is not None  # disabled, not deleted
        assert kept.enabled and not disabled.enabled
        assert kept.example_messages == keep_examples + other_examples
        assert disabled.example_messages == [*other_examples, keep_examples[0]]
    assert current(client) == []  # a disabled persona is not suggested

    refused = client.post("/api/suggestions/merge", json=confirmed(merge["action"]["body"]))
    assert refused.status_code == 400 and "already disabled" in refused.get_json()["error"]
    for body, status in (({"keep": keep.id, "disable": keep.id}, 400),
                         ({"keep": keep.id, "disable": 9999}, 404),
                         ({"keep": keep.id, "disable": "2"}, 400)):
        assert client.post("/api/suggestions/merge", json=confirmed(body)).status_code == status


@pytest.mark.parametrize(("rounds", "voted", "merge"), [
    (9, None, False),   # one shared question short of the minimum, every answer alike
    (10, 4, False),     # enough questions, but each rating rests on 4 votes
    (10, 5, True),      # the minimum of both
])
def test_a_merge_needs_the_minimum_shared_questions_and_votes(
        app: Flask, rounds: int, voted: int | None, merge: bool) -> None:
    with session_scope(app) as session:
        answer_alike(session, best=1, rounds=rounds, voted=voted)
    assert kinds_of(current(app.test_client())) == (["merge"] if merge else [])


def ref(persona: Persona) -> PersonaRef:
    return PersonaRef(str(persona.id), persona.id, persona.name, persona.color)


def flagged(alike: int, rounds: int, similarity: float = 0.93) -> list[Suggestion]:
    """The merge suggestions for one flagged pair (a Dutch bookkeeping persona and a Docker
    one) whose answers were alike on `alike` of `rounds` shared questions, both well rated."""
    books = Persona(id=1, name="The Bookkeeper (boekhouding)", color="#4f8cff", position=0)
    docker = Persona(id=2, name="The Learner (docker)", color="#e67e22", position=1)
    flag = SimilarityFlag(ref(books), ref(docker), similarity, rounds, "", alike)
    matrix = SimilarityMatrix([ref(books), ref(docker)], [], [flag], 0.9, rounds, 2 * rounds, 200)
    ratings = {1: rating_row(1000, 20, persona_id=1), 2: rating_row(1040, 20, persona_id=2)}
    return suggestions.merge_suggestions(matrix, {1: books, 2: docker}, ratings, {})


def test_one_shared_question_is_no_evidence_for_a_merge() -> None:
    assert flagged(alike=1, rounds=1, similarity=0.95) == []


def test_a_merge_needs_most_shared_answers_alike_at_95_percent() -> None:
    assert flagged(alike=8, rounds=10) == []  # 80%, but the interval reaches down to 49%
    found = flagged(alike=9, rounds=10)
    assert [s.title for s in found] == ["Merge The Bookkeeper (boekhouding) into The Learner "
                                        "(docker)"]
    figures = {f.label: f for f in found[0].figures}
    assert figures["shared questions"].shown == \
        "10 shared questions, answers alike on 9 (90%, 95% CI 60–98%)"
    assert "on 9 (90%, 95% CI 60–98%)" in found[0].message
    assert figures["The Learner (docker): rating"].shown == "1040 (95% CI 960–1120; 20 votes)"
    assert found[0].action.confirm.startswith("Disable The Bookkeeper (boekhouding)?")


def test_no_merge_that_would_leave_fewer_than_two_personas(app: Flask) -> None:
    client = app.test_client()
    with session_scope(app) as session:
        personas = answer_alike(session, best=1)
        personas[3].enabled = False
    assert kinds_of(current(client)) == ["merge"]  # three enabled: merging leaves two
    with session_scope(app) as session:
        session.get(Persona, personas[2].id).enabled = False  # type: ignore[union-attr]
    assert current(client) == []
    body = confirmed({"keep": personas[1].id, "disable": personas[0].id})
    refused = client.post("/api/suggestions/merge", json=body)
    assert refused.status_code == 400 and "Only 2 personas" in refused.get_json()["error"]


# --- retire ----------------------------------------------------------------------------------


def rating_row(rating: float, votes: int, comparisons: int | None = None, half: float = 80,
               persona_id: int = 1) -> LeaderboardRow:
    compared = votes * 2 if comparisons is None else comparisons
    return LeaderboardRow(persona_id, "Someone", "#4f8cff",
                          RatingInterval(persona_id, rating, rating - half, rating + half,
                                         compared, votes), votes, 0, 0.0, 0)


@pytest.mark.parametrize(("rating", "half", "votes", "rounds", "selected", "retire"), [
    (850, 80, 20, 100, 15, True),    # settled, low rating, low use: 15 of 100 (ratio CI 12-31%)
    (900, 80, 15, 100, 15, True),    # exactly 100 below average, from exactly 15 votes
    (850, 80, 14, 100, 15, False),   # 14 votes: a provisional rating cannot call it bad
    (901, 80, 20, 100, 15, False),   # not low enough a rating
    (850, 160, 20, 100, 15, False),  # its interval reaches the average (1010)
    (850, 80, 20, 100, 25, False),   # ratio 33%, but its interval reaches 46%
    (850, 80, 20, 19, 1, False),     # too few rounds to say
])
def test_retire_needs_settled_evidence_of_low_use_and_a_low_rating(
        rating: float, half: float, votes: int, rounds: int, selected: int,
        retire: bool) -> None:
    use = PersonaUse(rounds, selected, 0.75)
    assert should_retire(rating_row(rating, votes, half=half), use) is retire


def test_an_unrated_persona_is_not_retired() -> None:
    assert not should_retire(rating_row(1000, 0, comparisons=0), PersonaUse(50, 0, 0.75))


def rarely_picked(session: Session, selected_in: int, voted: int) -> list[Persona]:
    """80 rounds; persona 3 is selected (with 0 and 1) in the first `selected_in`, and loses
    to persona 0 in the first `voted` of them; the other rounds select 0, 1 and 2."""
    personas = list_personas(session)
    for k in range(80):
        chosen = {0, 1, 3} if k < selected_in else {0, 1, 2}
        round_ = add_round(session, personas, {i: ("done", f"answer {k}.{i}") for i in chosen},
                           routing=routing_for(personas, chosen, entropy(SURE_WEIGHTS),
                                               SURE_WEIGHTS), message=f"Question {k}?")
        if k < voted:
            winner = next(a for a in round_.answers if a.persona_id == personas[0].id)
            session.add(Vote(round_id=round_.id, kind="best", answer_id=winner.id,
                             persona_id=winner.persona_id, weights={}))
    session.flush()
    return personas


def retire_found(app: Flask) -> list[suggestions.Suggestion]:
    with session_scope(app) as session:
        enabled = {p.id: p for p in list_personas(session, enabled_only=True)}
        ratings = {row.persona_id: row for row in leaderboard_rows(session)}
        return suggestions.retire_suggestions(enabled, ratings, suggestions.persona_use(session))


def test_a_rarely_picked_low_rated_persona_is_suggested_to_retire(app: Flask) -> None:
    with session_scope(app) as session:
        personas = rarely_picked(session, selected_in=20, voted=10)
    assert retire_found(app) == []  # 10 votes: provisional, and use (33%) may be 47%

    with session_scope(app) as session:
        rarely_picked(session, selected_in=20, voted=20)  # 80 more rounds, 20 votes more
        rows = {r.persona_id: r for r in leaderboard_rows(session)}
    row = rows[personas[3].id]
    assert not row.rating.provisional and row.rating.upper < 1000  # the evidence holds
    found = retire_found(app)
    assert [s.action.body for s in found] == [{"persona_id": personas[3].id}]
    retire = found[0]
    figures = {f.label: f for f in retire.figures}
    name = personas[3].name
    assert figures[f"{name}: selected"].shown == \
        "in 20 (20%, 95% CI 13–29%) of 100 recent rounds"
    assert figures["use against the average persona"].value == round(0.2 / 0.75, 3)
    assert figures["use against the average persona"].shown.startswith("27% (95% CI 18–39%;")
    assert figures[f"{name}: rating"].value == row.rating.rating
    assert f"from {row.rating.votes} votes" in retire.message
    assert "in 20 (20%, 95% CI 13–29%) of the 100 recent rounds" in retire.message
    assert retire.action.confirm.startswith(f"Disable {name}?")

    client = app.test_client()
    unasked = client.post("/api/suggestions/retire", json=retire.action.body)
    assert unasked.status_code == 400 and "confirm it first" in unasked.get_json()["error"]
    response = client.post("/api/suggestions/retire", json=confirmed(retire.action.body))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["disabled"] == {"id": personas[3].id, "name": name}
    with session_scope(app) as session:
        assert session.get(Persona, personas[3].id).enabled is False  # type: ignore[union-attr]
    assert retire_found(app) == []
    again = client.post("/api/suggestions/retire", json=confirmed(retire.action.body))
    assert again.status_code == 400 and "already disabled" in again.get_json()["error"]
    assert client.post("/api/suggestions/retire", json=confirmed({})).status_code == 400
    assert client.post("/api/suggestions/retire",
                       json=confirmed({"persona_id": 9999})).status_code == 404
    assert client.post("/api/suggestions/retire",
                       json=confirmed({"persona_id": personas[2].id})).status_code == 200
    last = client.post("/api/suggestions/retire",
                       json=confirmed({"persona_id": personas[1].id}))
    assert last.status_code == 400 and "Only 2 personas" in last.get_json()["error"]


def test_the_export_keeps_questions_as_asked(tmp_path: Path) -> None:
    files = PersonaFiles(tmp_path)
    odd = ['Quote "this" and \\ that?', "Ünïcödé → 問題?"]
    name = write_questions_export(files, [UnsureRound(k, q, 0.3, 0.25, 1.0)
                                          for k, q in enumerate(odd)])
    rows = json.loads((files.raw_imports / name).read_text(encoding="utf-8"))
    assert [row["conversations"][0]["value"] for row in rows] == odd
    assert [m.text for m in parse_export(files.raw_imports / name).messages] == odd
