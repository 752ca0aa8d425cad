"""The status page says whether the backend is up, which models are missing, and the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ollama
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.llm.served import full_name
from council.models import WorkerAnswer
from council.personas import create_persona, list_personas
from council.training.register import adapter_model_name, served_record
from council.units import human_size
from tests.rows import new_round


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


def register_merged(session: Session, server: DemoServer, count: int) -> list[str]:
    """The first `count` shipped personas answer with merged models of their own on `server`,
    recorded as a registration records them; the others are disabled."""
    names = []
    for index, persona in enumerate(list_personas(session)):
        if index >= count:
            persona.enabled = False
            continue
        persona.adapter_model = adapter_model_name(persona.slug)
        persona.adapter_served = served_record("ollama", persona.adapter_model, [
            {"host": server.url, "version": server.version, "method": "merged"}])
        persona.variant = "lora"
        server.add_model(persona.adapter_model)
        names.append(persona.adapter_model)
    return names


def fit_of(app: Flask) -> dict[str, Any]:
    (fit,) = app.test_client().get("/api/status").get_json()["ollama_fit"]
    return fit


def test_four_models_on_a_server_that_keeps_three_name_the_problem_and_the_setting(
        make_app, settings, connect) -> None:
    """Three merged personas and the 7B synthesizer: with Ollama's defaults every round evicts
    one; the page says so, with OLLAMA_MAX_LOADED_MODELS, and the reloads show once rounds
    have run (each load on this server takes 0.3 s, as a real one takes seconds)."""
    with DemoServer(load_seconds=0.3) as server:
        app = make_app(settings.with_changes(ollama_host=server.url))
        with session_scope(app) as session:
            merged = register_merged(session, server, 3)
        fit = fit_of(app)
        assert (fit["needed"], fit["keeps"]) == (4, 3)
        assert {m["name"] for m in fit["models"]} == {*merged, "qwen2.5:7b"}
        page = app.test_client().get("/status").get_data(as_text=True)
        assert f"This council needs 4 models on {server.url}" in page
        assert "Ollama keeps 3 loaded by default" in page
        assert "OLLAMA_MAX_LOADED_MODELS=4 OLLAMA_NUM_PARALLEL=1 ollama serve" in page
        client = connect(app)
        for question in ("First question?", "Second question?"):
            assert client.ask(question, timeout=60).one("synth_done")["status"] == "done"
        fit = fit_of(app)
        assert fit["reloads"], "the second round loaded again what the synthesizer evicted"
        assert {m["name"] for m in fit["loaded"]} <= {full_name(m) for m in [*merged,
                                                                            "qwen2.5:7b"]}
        assert len(fit["loaded"]) == 3


def test_answers_stored_with_a_long_load_show_as_reloads(app: Flask) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(app) as session:
        for minute, load_s in ((0, 2.0), (2, 0.001), (4, 3.5)):
            round_ = new_round(session, started_at=start + timedelta(minutes=minute))
            session.add(WorkerAnswer(
                round_id=round_.id, persona_name="Sage", model="qwen2.5:3b", status="done",
                load_duration_ns=int(load_s * 1e9),
                started_at=start + timedelta(minutes=minute),
                finished_at=start + timedelta(minutes=minute, seconds=20)))
    assert fit_of(app)["reloads"] == [{"model": "qwen2.5:3b", "times": 1}]
    page = app.test_client().get("/status").get_data(as_text=True)
    assert "qwen2.5:3b was loaded again 1 time(s) in recent rounds" in page


def test_the_memory_is_the_servers_sizes_and_shapes_at_the_settings_that_fit(
        make_app, settings) -> None:
    """Four prompt-only personas speak at once on the worker model: every runner gets four
    slots of num_ctx tokens, each token's K and V as the server's model_info shapes them."""
    with DemoServer() as server:
        app = make_app(settings.with_changes(ollama_host=server.url))
        fit = fit_of(app)
        expected = 0
        with ollama.Client(host=server.url) as client:
            sizes = {m.model: m.size for m in client.list().models}
            for model in ("qwen2.5:3b", "qwen2.5:7b"):
                info = client.show(model).modelinfo
                layers, heads, kv_heads, width, context = (info[f"qwen2.{key}"] for key in (
                    "block_count", "attention.head_count", "attention.head_count_kv",
                    "embedding_length", "context_length"))
                per_token = 2 * layers * kv_heads * (width // heads) * 2
                expected += sizes[model] + per_token * min(settings.num_ctx, context) * 4
        assert fit["parallel"] == 4 and fit["memory"] == expected
        assert fit["memory_text"] == f"≈ {human_size(expected)}"
        assert fit["command"] == "OLLAMA_MAX_LOADED_MODELS=2 OLLAMA_NUM_PARALLEL=4 ollama serve"
