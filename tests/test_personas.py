"""Persona rules, the manager pages, export/import, and shipped defaults that respect edits."""

from __future__ import annotations

import io
import json
import re
from uuid import uuid4

import pytest
from flask import Flask
from sqlalchemy import select

from council.config import PROJECT_ROOT
from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.models import Persona
from council.personas import (
    PALETTE,
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


SHIPPED_COLORS = {"#4f8cff", "#ef5b5b", "#b061ff", "#2fbf71"}
NEW = {"system_prompt": "You are new here.", "enabled": "on", "temperature": "0.7",
       "top_p": "0.9"}


def _form_field(page: bytes, pattern: str) -> str:
    found = re.search(pattern, page.decode())
    assert found, pattern
    return found.group(1)


def _create_through_form(client, name: str) -> str:
    """Create a persona as a user does, keeping the colour the form suggests; returns it."""
    form = client.get("/personas/new").data
    suggested = _form_field(form, r'name="color" id="color-input" type="color" value="([^"]+)"')
    assert client.post("/personas/new", data={**NEW, "name": name, "color": suggested,
                                              "suggested_color": suggested}).status_code == 302
    return suggested


def test_new_personas_from_the_form_and_an_import_get_colours_of_their_own(app: Flask) -> None:
    client = app.test_client()
    suggested = _create_through_form(client, "Historian")
    # Discover's import (council/discovery/importer.py) hands import_personas entries like these
    discovered = [{"slug": "debugging", "name": "Debugging", "system_prompt": "You debug.",
                   "description": "", "example_messages": ["Why does it crash?"]},
                  {"slug": "cooking", "name": "Cooking", "system_prompt": "You cook.",
                   "description": "", "example_messages": []}]
    with session_scope(app) as session:
        assert import_personas(session, discovered).created == ["Debugging", "Cooking"]
        created = create_persona(session, {**VALID, "name": "Chosen"})
        assert created.color == "#123abc", "a colour the user picks wins"
    assert suggested not in SHIPPED_COLORS
    assert _create_through_form(client, "Poet") != suggested, "the form offers the next one"
    with session_scope(app) as session:
        colors = {p.slug: p.color for p in list_personas(session)}
    new = [colors[slug] for slug in ("historian", "debugging", "cooking", "poet")]
    assert colors["historian"] == suggested
    assert len(set(new)) == 4 and not set(new) & SHIPPED_COLORS, colors


def test_colours_stay_distinct_past_the_palette_and_edits_keep_them(app: Flask) -> None:
    with session_scope(app) as session:
        for index in range(2 * len(PALETTE)):
            create_persona(session, {"name": f"Persona {index}", "system_prompt": "You help."})
        colors = [p.color for p in list_personas(session)]
        assert len(set(colors)) == len(colors) == 4 + 2 * len(PALETTE)
        assert all(re.fullmatch(r"#[0-9a-f]{6}", color) for color in colors)
        persona = list_personas(session)[-1]
        kept = persona.color
        update_persona(session, persona, {"color": "", "description": "edited"})
        assert persona.color == kept


def test_a_kept_suggestion_is_the_colour_still_free_when_saving(app: Flask) -> None:
    """Two forms opened at once suggest the same colour; the second saved gets another."""
    client = app.test_client()
    form = client.get("/personas/new").data
    suggested = _form_field(form, r'name="color" id="color-input" type="color" value="([^"]+)"')
    for name in ("First", "Second"):
        client.post("/personas/new", data={**NEW, "name": name, "color": suggested,
                                           "suggested_color": suggested})
    with session_scope(app) as session:
        colors = {p.name: p.color for p in list_personas(session)}
    assert colors["First"] == suggested and colors["Second"] not in (suggested, *SHIPPED_COLORS)


def test_form_offers_the_models_the_backend_serves(app: Flask, demo_server: DemoServer) -> None:
    demo_server.add_model("persona-form-test:1b")
    client = app.test_client()
    form = client.get("/personas/new").data.decode()
    menu = re.findall(r'<option value="([^"]*)"', form[form.index('id="model-choice"'):])
    assert menu[:1] == [""] and "Default worker model (qwen2.5:3b)" in form
    assert {"qwen2.5:3b", "qwen2.5:7b", "persona-form-test:1b"} <= set(menu)
    assert menu[-1] == "other" and 'name="model"' in form, "a typed name is still accepted"

    client.post("/personas/new", data={**NEW, "name": "Picked", "model_choice": "qwen2.5:7b"})
    client.post("/personas/new", data={**NEW, "name": "Typed", "model_choice": "other",
                                       "model": "llama3.2:1b"})
    client.post("/personas/new", data={**NEW, "name": "Default", "model_choice": ""})
    with session_scope(app) as session:
        models = {p.name: p.model for p in list_personas(session)}
        picked = next(p.id for p in list_personas(session) if p.name == "Picked")
        typed = next(p.id for p in list_personas(session) if p.name == "Typed")
    assert (models["Picked"], models["Typed"], models["Default"]) == ("qwen2.5:7b", "llama3.2:1b", "")
    edit = client.get(f"/personas/{picked}/edit").data.decode()
    assert '<option value="qwen2.5:7b" selected>' in edit
    edit = client.get(f"/personas/{typed}/edit").data.decode()
    assert '<option value="other" selected>' in edit and 'value="llama3.2:1b"' in edit
    assert "llama3.2:1b is not on the backend" in edit and "ollama pull llama3.2:1b" in edit


def test_personas_list_flags_a_model_the_backend_lacks(app: Flask,
                                                       demo_server: DemoServer) -> None:
    model = f"persona-list-{uuid4().hex[:8]}:2b"  # the demo server outlives this test
    with session_scope(app) as session:
        create_persona(session, {**VALID, "model": model})
    client = app.test_client()
    page = client.get("/personas/").data.decode()
    assert page.count("Not on the backend") == 1
    assert f"<code>ollama pull {model}</code>" in page and "1 persona uses" in page
    demo_server.add_model(model)
    page = client.get("/personas/").data.decode()
    assert "Not on the backend" not in page and 'id="models-missing"' not in page


def test_form_works_as_free_text_when_the_backend_is_unreachable(make_app, settings) -> None:
    app = make_app(settings.with_changes(ollama_host="http://127.0.0.1:9", demo=False))
    client = app.test_client()
    form = client.get("/personas/new").data.decode()
    assert "Could not load the backend's models" in form and 'id="model-choice"' not in form
    assert client.post("/personas/new", data={**NEW, "name": "Offline",
                                              "model": "qwen2.5:3b"}).status_code == 302
    page = client.get("/personas/").data.decode()
    assert "Could not check the personas' models" in page and "Not on the backend" not in page
    with session_scope(app) as session:
        assert list_personas(session)[-1].model == "qwen2.5:3b"


def test_embedded_engine_lists_its_gguf_files_and_checks_persona_paths(
        make_app, settings, tmp_path) -> None:
    app = make_app(settings.with_changes(backend="embedded", demo=False))
    own = tmp_path / "my-model.gguf"
    own.write_bytes(b"GGUF")
    with session_scope(app) as session:
        create_persona(session, {**VALID, "name": "Own file", "model": str(own)})
        create_persona(session, {**VALID, "name": "Gone", "model": str(tmp_path / "gone.gguf")})
    client = app.test_client()
    form = client.get("/personas/new").data.decode()
    assert '<option value="SmolLM2-135M-Instruct.Q4_1"' in form
    page = client.get("/personas/").data.decode()
    assert page.count("Not on the backend") == 1
    assert f"{tmp_path / 'gone.gguf'}: give the persona a .gguf path" in page
