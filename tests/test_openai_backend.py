"""The OpenAI-compatible backend (for vLLM) through the official `openai` client against the
demo server's /v1 side over a real socket; a round and an adapter registration through it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from council.db import session_scope
from council.llm import connect_backends
from council.llm.base import BackendUnreachable, ChatStats, ModelNotFound, StreamError
from council.llm.demo_server import DemoServer
from council.llm.openai_backend import OpenAICompatibleBackend
from council.models import Persona, WorkerAnswer
from council.personas import list_personas
from council.training.train import TrainSettings, train_adapter
from scripts import register_lora
from tests.training_data import memorisable_set

MESSAGES = [{"role": "system", "content": "You are the Skeptic, a careful debugger."},
            {"role": "user", "content": "Why does my cache return stale values?"}]


@pytest.fixture
def make_backend(closing) -> Callable[..., OpenAICompatibleBackend]:
    return lambda base_url, **kwargs: closing(OpenAICompatibleBackend(base_url, **kwargs))


def test_stream_chat_yields_deltas_then_usage(make_backend, demo_server: DemoServer) -> None:
    backend = make_backend(f"{demo_server.url}/v1")
    *deltas, stats = backend.stream_chat("qwen2.5:3b", MESSAGES, {"temperature": 0.2})
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert isinstance(stats, ChatStats) and stats.done_reason == "stop"
    assert stats.eval_count == len(deltas) and stats.prompt_eval_count
    assert stats.total_duration_ns and stats.eval_duration_ns is not None
    sent = demo_server.requests[-1]
    assert sent["temperature"] == 0.2 and sent["stream_options"] == {"include_usage": True}

    *cut, stats = backend.stream_chat("qwen2.5:3b", MESSAGES, {"num_predict": 4})
    assert len(cut) == 4 and stats.done_reason == "length"
    assert demo_server.requests[-1]["max_tokens"] == 4


def test_same_canned_answer_as_the_ollama_side(make_backend, closing,
                                               demo_server: DemoServer) -> None:
    from council.llm.ollama_backend import OllamaBackend

    ollama_side = closing(OllamaBackend(demo_server.url))
    expected = "".join(c for c in ollama_side.stream_chat("qwen2.5:3b", MESSAGES)
                       if isinstance(c, str))
    backend = make_backend(f"{demo_server.url}/v1")
    assert "".join(c for c in backend.stream_chat("qwen2.5:3b", MESSAGES)
                   if isinstance(c, str)) == expected


def test_models_health_and_clear_errors(make_backend, demo_server: DemoServer) -> None:
    backend = make_backend(f"{demo_server.url}/v1", timeout=2)
    assert {"qwen2.5:3b", "qwen2.5:7b"} <= {m.name for m in backend.list_models()}
    assert backend.health().reachable
    with pytest.raises(ModelNotFound, match="--lora-modules persona-x=PATH"):
        list(backend.stream_chat("persona-x", MESSAGES))
    for fault, message in (("http_500", "HTTP 500"), ("reset_midstream", "broke|before it"),
                           ("refuse", "broke|Cannot reach")):
        demo_server.set_fault(f"fault-{fault}", fault)
        with pytest.raises((StreamError, BackendUnreachable), match=message):
            list(backend.stream_chat(f"fault-{fault}", MESSAGES))
    gone = make_backend("http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(BackendUnreachable, match="OPENAI_BASE_URL"):
        list(gone.stream_chat("qwen2.5:3b", MESSAGES))
    assert not gone.health().reachable


@pytest.fixture
def openai_settings(settings, demo_server: DemoServer, tmp_path: Path, tiny_base_model: Path):
    return settings.with_changes(backend="openai", openai_base_url=f"{demo_server.url}/v1",
                                 loras_dir=tmp_path / "loras",
                                 train_base_model=str(tiny_base_model))


def test_connect_backends_follows_the_setting(openai_settings, settings, closing) -> None:
    backends, resolved = connect_backends(openai_settings)
    assert closing(backends).workers.kind == "openai" and resolved.backend == "openai"
    assert backends.synthesizer is backends.workers, "one server serves both roles"
    # the demo's /v1 does not say how many requests it runs at once: one at a time
    [(server, roles)] = backends.servers()
    assert server.slots.limit == 1 and roles == ["workers", "synthesizer"]
    backends, resolved = connect_backends(settings.with_changes(backend="auto"))
    assert closing(backends).workers.kind == "ollama" and resolved.backend == "ollama", \
        "Ollama answered"
    backends, _ = connect_backends(openai_settings.with_changes(backend_parallel=3))
    assert closing(backends).servers()[0][0].slots.limit == 3


def test_round_and_adapter_through_an_openai_compatible_server(
        make_app, openai_settings, demo_server: DemoServer, connect, tiny_base_model: Path,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(openai_settings)
    result = connect(app).ask("Should I cache this query?")
    assert result.one("round_done")["status"] == "done"
    assert all("messages" in r and "stream_options" in r for r in demo_server.requests)

    with session_scope(app) as session:
        slug = list_personas(session)[0].slug
    train_adapter(TrainSettings(slug=slug, base_model=str(tiny_base_model), max_steps=2,
                                backend="peft", batch_size=2, gradient_accumulation=1),
                  memorisable_set(tmp_path), None, openai_settings.loras_dir)
    for name, value in (("COUNCIL_BACKEND", "openai"),
                        ("OPENAI_BASE_URL", openai_settings.openai_base_url),
                        ("COUNCIL_LORAS_DIR", str(openai_settings.loras_dir))):
        monkeypatch.setenv(name, value)
    assert register_lora.main(["--persona", slug, "--data-dir",
                               str(openai_settings.data_dir)]) == 0
    loaded = demo_server.created[f"persona-{slug}:latest"]
    adapter = json.loads((openai_settings.loras_dir / slug / "metadata.json").read_text())
    assert loaded["lora_path"] == str(Path(adapter["adapter_dir"]).resolve())
    assert not (openai_settings.loras_dir / slug / "adapter.gguf").exists(), "vLLM reads PEFT"

    demo_server.requests.clear()
    again = connect(app).ask("And how long should the cache live?")
    assert again.one("round_done")["status"] == "done"
    with session_scope(app) as session:
        persona = session.scalars(select(Persona).where(Persona.slug == slug)).one()
        answer = session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.persona_id == persona.id, WorkerAnswer.round_id == again.round_id)).one()
        assert answer.model == f"persona-{slug}" and answer.variant == "lora"
    assert f"persona-{slug}" in {r["model"] for r in demo_server.requests}
