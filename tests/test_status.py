"""The status page says whether the backend is up, which models are missing, and the fix."""

from __future__ import annotations

from flask import Flask

from council.db import session_scope
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
