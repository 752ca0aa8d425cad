"""Persona rules, the manager pages, export/import, and shipped defaults that respect edits."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask
from sqlalchemy import select

from council.config import PROJECT_ROOT
from council.db import session_scope
from council.models import Persona
from council.personas import (
    PersonaError,
    create_persona,
    export_personas,
    import_personas,
    list_personas,
    seed_default_personas,
    update_persona,
    validate_persona,
)

pytestmark = pytest.mark.both_databases

VALID = {"name": "Historian", "system_prompt": "You are the Historian.", "temperature": "0.3",
         "top_p": "0.8", "color": "#123abc", "enabled": "on"}


def test_four_distinct_defaults_are_seeded(app: Flask) -> None:
    with session_scope(app) as session:
        personas = list_personas(session)
        assert [p.slug for p in personas] == ["architect", "explorer", "pragmatist", "skeptic"]
        assert len({p.system_prompt for p in personas}) == 4
        assert len({p.color for p in personas}) == 4
        assert all(p.enabled and p.source == "builtin" for p in personas)


@pytest.mark.parametrize("field,value,message", [
    ("name", "", "Give the persona a name"),
    ("name", "x" * 81, "80 characters"),
    ("name", "!!!", "at least one letter"),
    ("system_prompt", "  ", "Write a system prompt"),
    ("temperature", "hot", "number between 0 and 2"),
    ("temperature", "2.5", "between 0 and 2"),
    ("top_p", "0", "between 0.01 and 1"),
    ("model", "qwen 2.5", "looks like qwen2.5:3b"),
    ("color", "red", "#4f8cff"),
    ("enabled", "maybe", "true or false"),
])
def test_validation_names_the_field_and_the_fix(field: str, value: str, message: str) -> None:
    with pytest.raises(PersonaError) as info:
        validate_persona({**VALID, field: value})
    assert message in info.value.errors[field]


def test_create_update_delete_and_duplicate_names(app: Flask) -> None:
    with session_scope(app) as session:
        persona = create_persona(session, VALID)
        assert (persona.slug, persona.temperature, persona.enabled) == ("historian", 0.3, True)
        with pytest.raises(PersonaError, match="already exists"):
            create_persona(session, {**VALID, "name": "historian"})
        with pytest.raises(PersonaError, match="already exists"):
            update_persona(session, persona, {"name": "Architect"})
        update_persona(session, persona, {"name": "Chronicler", "enabled": False})
        assert (persona.slug, persona.enabled, persona.temperature) == ("chronicler", False, 0.3)


def test_manager_pages_create_edit_and_delete(app: Flask) -> None:
    client = app.test_client()
    page = client.post("/personas/new", data={**VALID, "temperature": "9"})
    assert page.status_code == 400
    assert b"Temperature must be between 0 and 2" in page.data
    assert b'value="Historian"' in page.data, "the user's input is kept on error"

    created = client.post("/personas/new", data=VALID, follow_redirects=True)
    assert created.status_code == 200 and b"Created Historian" in created.data
    with session_scope(app) as session:
        persona_id = session.scalar(select(Persona.id).where(Persona.slug == "historian"))

    edited = client.post(f"/personas/{persona_id}/edit",
                         data={**VALID, "name": "Historian", "system_prompt": "You are new."},
                         follow_redirects=True)
    assert b"Saved Historian" in edited.data
    bad_edit = client.post(f"/personas/{persona_id}/edit", data={**VALID, "name": "Skeptic"})
    assert bad_edit.status_code == 400 and b"already exists" in bad_edit.data
    with session_scope(app) as session:
        stored = session.get(Persona, persona_id)
        assert (stored.name, stored.system_prompt) == ("Historian", "You are new.")

    assert client.post(f"/personas/{persona_id}/delete").status_code == 302
    assert client.get(f"/personas/{persona_id}/edit").status_code == 404
    assert client.post("/personas/999/delete").status_code == 404


def test_export_import_round_trip(app: Flask, make_app, settings, tmp_path) -> None:
    client = app.test_client()
    client.post("/personas/new", data=VALID)
    exported = client.get("/personas/export.json")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    payload = json.loads(exported.data)
    assert [p["slug"] for p in payload["personas"]][-1] == "historian"

    other = make_app(settings.with_changes(data_dir=tmp_path / "other"))
    with session_scope(other) as session:
        for persona in list_personas(session):
            session.delete(persona)
    response = other.test_client().post(
        "/personas/import", data={"file": (io.BytesIO(exported.data), "personas.json")},
        follow_redirects=True)
    assert b"5 new, 0 updated, 0 skipped" in response.data
    with session_scope(other) as session:
        assert export_personas(session)["personas"] == payload["personas"]

    again = other.test_client().post(
        "/personas/import", data={"file": (io.BytesIO(exported.data), "personas.json")},
        follow_redirects=True)
    assert b"0 new, 0 updated, 5 skipped" in again.data
    with session_scope(other) as session:
        assert len(list_personas(session)) == 5, "re-import never duplicates"


def test_import_updates_on_request_and_rejects_bad_files_whole(app: Flask) -> None:
    with session_scope(app) as session:
        changed = {**export_personas(session)}
        changed["personas"][0]["system_prompt"] = "You are the Architect, version two."
        summary = import_personas(session, changed, on_conflict="update")
        assert len(summary.updated) == 4 and not summary.created
        assert list_personas(session)[0].system_prompt.endswith("version two.")

        broken = {**changed, "personas": [*changed["personas"], {"name": "", "system_prompt": ""}]}
        broken["personas"][0] = {**broken["personas"][0], "system_prompt": "should not land"}
        with pytest.raises(PersonaError, match="persona 5"):
            import_personas(session, broken, on_conflict="update")
        assert list_personas(session)[0].system_prompt.endswith("version two.")
        with pytest.raises(PersonaError, match="not an AI Council persona export"):
            import_personas(session, {"hello": "world"})

    response = app.test_client().post(
        "/personas/import", data={"file": (io.BytesIO(b"{not json"), "x.json")},
        follow_redirects=True)
    assert b"is not valid JSON" in response.data and b"nothing was imported" in response.data


def test_seeding_never_overwrites_edits_or_revives_deleted_personas(app: Flask) -> None:
    directory = PROJECT_ROOT / "personas"
    with session_scope(app) as session:
        architect = session.scalar(select(Persona).where(Persona.slug == "architect"))
        architect.system_prompt = "My own architect prompt."
        session.delete(session.scalar(select(Persona).where(Persona.slug == "skeptic")))
    with session_scope(app) as session:
        assert seed_default_personas(session, directory) == []
        slugs = {p.slug: p for p in list_personas(session)}
        assert "skeptic" not in slugs
        assert slugs["architect"].system_prompt == "My own architect prompt."


def test_form_takes_example_messages_and_yaml_routing_rules(app: Flask) -> None:
    client = app.test_client()
    bad = client.post("/personas/new", data={**VALID, "routing_rules": "prefer: [sunny"})
    assert bad.status_code == 400 and b"not valid YAML" in bad.data
    assert b"prefer: [sunny" in bad.data, "what the user typed is kept"
    unknown = client.post("/personas/new", data={**VALID, "routing_rules": "prefer: [sunny]"})
    assert unknown.status_code == 400 and b"unknown condition" in unknown.data

    created = client.post("/personas/new", data={
        **VALID, "example_messages": "When did Rome fall?\n\n  Who built the pyramids? ",
        "routing_rules": "prefer: [question:why]\nmax_weight: 0.5"})
    assert created.status_code == 302
    with session_scope(app) as session:
        persona = session.scalar(select(Persona).where(Persona.slug == "historian"))
        assert persona.example_messages == ["When did Rome fall?", "Who built the pyramids?"]
        assert persona.routing_rules == {"prefer": ["question:why"], "max_weight": 0.5}
        persona_id = persona.id
    form = client.get(f"/personas/{persona_id}/edit").data
    assert b"Who built the pyramids?" in form and b"max_weight: 0.5" in form
