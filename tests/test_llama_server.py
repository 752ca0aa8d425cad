"""COUNCIL_BACKEND=openai against a real engine: llama-cpp-python's own OpenAI-compatible server
(`python -m llama_cpp.server`) serving the bundled SmolLM2 GGUF with that server's defaults.

With its defaults that server runs one request at a time and interrupts it when the next one
arrives, so a council that sent its workers at once got cut-off answers. The backend asks how
many requests the server runs at once (it does not say: one) and queues the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from council.config import Settings
from council.llm.openai_backend import OpenAICompatibleBackend, probe_parallel
from tests.llama_cpp_server import LlamaServer


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server on a free loopback port; yields its /v1 base URL."""
    server = LlamaServer(tmp_path_factory.mktemp("llama-server") / "server.log").start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture
def server_settings(settings: Settings, llama_server: str, tmp_path: Path) -> Settings:
    return settings.with_changes(backend="openai", openai_base_url=llama_server, demo=False,
                                 num_predict=32, worker_timeout=120.0, synth_timeout=120.0)


def test_the_server_does_not_say_so_it_gets_one_request_at_a_time(llama_server: str) -> None:
    limit, source = probe_parallel(llama_server)
    assert limit == 1 and "one at a time" in source


def test_every_worker_answers_through_the_real_server(make_app, server_settings: Settings,
                                                      connect) -> None:
    app = make_app(server_settings)
    result = connect(app).ask("Name one good habit for writing tests.", timeout=240)
    assert result.one("round_done")["status"] == "done"
    done = result.done_by_answer()
    assert len(done) == 4
    assert all(d["status"] == "done" and d["text"].strip() for d in done.values()), done
    # this server sends no usage chunk: tokens are counted one per streamed chunk
    assert all(d["stats"]["eval_count"] and d["stats"]["tokens_per_s"] for d in done.values())
    synth = result.one("synth_done")
    assert synth["status"] == "done" and synth["text"].strip()
    status = app.test_client().get("/api/status").get_json()
    assert status["ready"], "the server answers every model name with its one model"
    assert status["backend"]["details"]["parallel"] == 1


def test_sent_all_at_once_the_server_cuts_answers_off(make_app, server_settings: Settings,
                                                      connect) -> None:
    """Why the queue exists: told the server runs four at once, the round loses workers."""
    app = make_app(server_settings.with_changes(backend_parallel=4, num_predict=64))
    result = connect(app).ask("Name one good habit for writing tests.", timeout=240)
    statuses = [d["status"] for d in result.done_by_answer().values()]
    assert "failed" in statuses, statuses


def test_a_password_in_the_server_url_reaches_the_server_but_is_never_shown(
        llama_server: str) -> None:
    """Why: a server behind basic auth is reached as http://user:password@host/v1; the client
    must still send it, and everything the app shows or stores names the host without it."""
    with_credentials = llama_server.replace("http://", "http://admin:hunter2@")
    backend = OpenAICompatibleBackend(with_credentials, parallel=1)
    try:
        health = backend.health()
        answer = "".join(chunk for chunk in backend.stream_chat(
            "smollm2", [{"role": "user", "content": "Say hello."}], {"num_predict": 8})
            if isinstance(chunk, str))
    finally:
        backend.close()
    assert health.reachable and answer.strip(), "the real server answered through that URL"
    assert health.host == llama_server.replace("http://", "http://***@")
    assert "hunter2" not in f"{backend.host} {health}"
