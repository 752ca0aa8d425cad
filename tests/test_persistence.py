"""Everything is in the database: restarts keep rounds, and unfinished work is marked so."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import inspect, select, text

from council.db import session_scope
from council.models import Round, WorkerAnswer
from tests.rows import new_round

pytestmark = pytest.mark.both_databases


def test_database_survives_a_restart_with_all_rounds(app: Flask, sio, make_app,
                                                            settings) -> None:
    first = sio.ask("What is a B-tree?")
    second = sio.ask("And a LSM tree?", first.ack["conversation_id"])
    texts = {d["answer_id"]: d["text"] for d in first.named("worker_done") + second.named(
        "worker_done")}

    restarted = make_app(settings)
    response = restarted.test_client().get(f"/api/conversations/{first.ack['conversation_id']}")
    conversation = response.get_json()
    assert [r["user_message"] for r in conversation["rounds"]] == ["What is a B-tree?",
                                                                   "And a LSM tree?"]
    stored = {w["answer_id"]: w["text"] for r in conversation["rounds"] for w in r["workers"]}
    assert stored == texts
    assert all(r["status"] == "done" and r["synthesis"]["status"] == "done"
               for r in conversation["rounds"])
    assert conversation["rounds"][1]["synthesis"]["text"] == second.one("synth_done")["text"]
    with session_scope(restarted) as session:
        if session.get_bind().dialect.name == "sqlite":
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_a_round_left_running_by_a_dead_process_is_marked_interrupted(app: Flask, make_app,
                                                                      settings) -> None:
    with session_scope(app) as session:
        round_ = new_round(session, "half done")
        session.add(WorkerAnswer(round_id=round_.id, persona_name="Architect", model="m",
                                 text="partial"))
        round_id = round_.id
    restarted = make_app(settings)
    with session_scope(restarted) as session:
        round_ = session.get(Round, round_id)
        assert round_.status == "interrupted"
        assert [(a.status, a.text) for a in round_.answers] == [("interrupted", "partial")]


def test_schema_is_managed_by_alembic(app: Flask) -> None:
    with session_scope(app) as session:
        tables = set(inspect(session.get_bind()).get_table_names())
        assert {"personas", "conversations", "rounds", "worker_answers", "syntheses",
                "alembic_version"} <= tables
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_conversations_api_renames_lists_and_deletes(app: Flask, sio) -> None:
    result = sio.ask("Name three sorting algorithms.")
    conversation_id = result.ack["conversation_id"]
    client = app.test_client()
    assert client.post("/api/conversations", json={}).status_code == 201
    listed = client.get("/api/conversations").get_json()
    assert [c["title"] for c in listed][-1] == "Name three sorting algorithms."

    renamed = client.patch(f"/api/conversations/{conversation_id}", json={"title": "Sorting"})
    assert renamed.get_json()["title"] == "Sorting"
    empty = client.patch(f"/api/conversations/{conversation_id}", json={"title": " "})
    assert empty.status_code == 400 and "title" in empty.get_json()["error"]
    assert client.patch("/api/conversations/999", json={"title": "x"}).status_code == 404

    assert client.delete(f"/api/conversations/{conversation_id}").status_code == 204
    assert client.get(f"/api/conversations/{conversation_id}").status_code == 404
    with session_scope(app) as session:
        assert session.scalars(select(Round)).all() == []
        assert session.scalars(select(WorkerAnswer)).all() == []


def test_migrations_match_the_models_and_run_down_and_up(app: Flask, settings) -> None:
    """Alembic's head equals the SQLAlchemy models (nothing to autogenerate), and every
    migration's downgrade undoes it cleanly, on this database backend."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext

    from council.db import MIGRATIONS_DIR, make_engine
    from council.models import Base

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        assert {"personas", "votes", "jobs"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
