"""The status page says whether the backend is up, which models are missing, and the fix."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from council.db import session_scope
from council.models import WorkerAnswer
from council.personas import create_persona


def test_status_reports_ready_backend(app: Flask) -> None:
    status = app.test_client().get("/api/status").get_json()
    assert status["ready"] and status["backend"]["reachable"] and status["backend"]["demo"]
    assert {m["name"] for m in status["models"]} == {"qwen2.5:3b", "qwen2.5:7b"}
    assert status["fixes"] == []


def test_status_names_missing_models_with_the_pull_command(app: Flask) -> None:
    with session_scope(app) as session:
        create_persona(session, {"name": "Poet", "system_prompt": "You are the Poet.",
                                 "model": "gemma3:4b"})
    client = app.test_client()
    status = client.get("/api/status").get_json()
    assert not status["ready"]
    assert status["fixes"] == ["ollama pull gemma3:4b"]
    assert next(m for m in status["models"] if m["name"] == "gemma3:4b")["used_by"] == ["Poet"]
    assert b"ollama pull gemma3:4b" in client.get("/status").data


def test_status_says_how_to_start_an_unreachable_backend(make_app, settings) -> None:
    app = make_app(settings.with_changes(ollama_host="http://127.0.0.1:9", demo=False))
    status = app.test_client().get("/api/status").get_json()
    assert not status["ready"] and not status["backend"]["reachable"]
    assert status["fixes"][0].startswith("ollama serve")
    page = app.test_client().get("/status").data
    assert b"not reachable" in page and b"ollama serve" in page


def test_pages_render_and_show_the_demo_badge(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/personas/", "/personas/new", "/status"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"demo backend" in response.data
    assert b"vendor/marked.umd.js" in client.get("/").data
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and b"AI Council" in missing.data
    assert client.get("/api/nope").get_json()["error"]


def test_a_password_in_the_backend_url_is_never_shown_or_stored(make_app, settings, connect,
                                                                 demo_server) -> None:
    """Why: OLLAMA_HOST=http://user:password@host is how a server behind basic auth is reached;
    the status page, the API and a stored worker error name the host without the secret."""
    host = demo_server.url.replace("http://", "http://admin:hunter2@")
    app = make_app(settings.with_changes(ollama_host=host))
    with session_scope(app) as session:
        create_persona(session, {"name": "Poet", "system_prompt": "You are the Poet.",
                                 "model": "gemma3:4b"})
    client = app.test_client()
    status = client.get("/api/status").get_json()
    assert status["backend"]["reachable"], "the client still authenticates with the secret"
    assert status["backend"]["host"] == demo_server.url.replace("http://", "http://***@")
    result = connect(app).ask("Write me a poem.", timeout=60)
    failed = [d for d in result.done_by_answer().values() if d["status"] == "failed"]
    assert failed and "http://***@127.0.0.1" in failed[0]["error"]
    with session_scope(app) as session:
        errors = [a.error for a in session.scalars(select(WorkerAnswer)) if a.error]
    shown = [client.get(page).get_data(as_text=True) for page in ("/status", "/api/status", "/")]
    assert errors and not any("hunter2" in text for text in [*errors, *shown, str(result.events)])


def test_a_password_in_an_unreachable_backend_url_is_not_in_its_error(make_app,
                                                                      settings) -> None:
    app = make_app(settings.with_changes(ollama_host="http://admin:hunter2@127.0.0.1:9",
                                         demo=False))
    body = app.test_client().get("/api/status").get_data(as_text=True)
    assert "not reachable" in body or "Cannot reach" in body
    assert "hunter2" not in body and "http://***@127.0.0.1:9" in body
