"""Persona adapters on both sides of Ollama 0.34.1, which stopped creating models with an ADAPTER:
the demo server answers as an old or a new version, registration picks the adapter model or a
merged one by what each server says, and a round records what was really served."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ollama
import pytest
from sqlalchemy import select

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.llm.ollama_versions import creates_adapter_models, parse_version
from council.models import Persona, WorkerAnswer
from council.personas import list_personas
from council.training.merge import estimate_merge, human_size
from council.training.ollama_register import _verify, plan_ollama
from council.training.register import RegistrationError
from council.variants import Serving, plan_answer
from scripts import register_lora
from tests.lora_adapters import write_trained_adapter

NEW = "0.34.1"


@pytest.fixture
def settings(settings, tmp_path: Path):
    return settings.with_changes(loras_dir=tmp_path / "loras")


@pytest.fixture
def persona(app, settings, tiny_base_model: Path) -> Persona:
    with session_scope(app) as session:
        chosen = list_personas(session)[0]
    write_trained_adapter(settings.loras_dir, chosen.slug, tiny_base_model)
    return chosen


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings, demo_server: DemoServer) -> None:
    """The CLI reads settings from the environment, as the job runner passes them."""
    monkeypatch.setenv("OLLAMA_HOST", demo_server.url)
    monkeypatch.setenv("COUNCIL_BACKEND", "ollama")
    monkeypatch.setenv("COUNCIL_LORAS_DIR", str(settings.loras_dir))
    monkeypatch.delenv("COUNCIL_WORKER_HOSTS", raising=False)


def register(settings, persona: Persona) -> int:
    return register_lora.main(["--persona", persona.slug, "--data-dir", str(settings.data_dir)])


def answer_of(app, persona: Persona) -> WorkerAnswer:
    with session_scope(app) as session:
        return session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.persona_id == persona.id).order_by(WorkerAnswer.id.desc())).first()


def asked_models(demo: DemoServer) -> set[str]:
    return {r["model"] for r in demo.requests if "messages" in r}


def test_versions() -> None:
    assert parse_version("0.12.6") == (0, 12, 6) and parse_version("v0.34.1-rc2") == (0, 34, 1)
    assert parse_version("0.12.6-demo") == (0, 12, 6) and parse_version("dev") is None
    assert creates_adapter_models("0.34.0") is True
    assert creates_adapter_models("0.34.1") is False and creates_adapter_models("1.0.0") is False
    assert creates_adapter_models("0.0.0") is None and creates_adapter_models("") is None


def test_demo_server_refuses_adapter_models_from_0_34_1(demo_server: DemoServer, client,
                                                        tmp_path: Path) -> None:
    blob = tmp_path / "adapter.gguf"
    blob.write_bytes(b"GGUF adapter bytes")
    digest = client.create_blob(blob)
    client.create(model="old-side", from_="qwen2.5:3b", adapters={blob.name: digest})
    assert "ADAPTER" in client.show("old-side").modelfile
    demo_server.version = NEW
    assert client._client.get("/api/version").json()["version"] == NEW
    with pytest.raises(ollama.ResponseError) as refused:
        client.create(model="new-side", from_="qwen2.5:3b", adapters={blob.name: digest})
    assert refused.value.status_code == 400 and "0.34.1" in refused.value.error
    assert not demo_server.has_model("new-side")
    assert "ADAPTER" in client.show("old-side").modelfile, "built before: still served"


@pytest.fixture
def client(demo_server: DemoServer):
    with ollama.Client(host=demo_server.url) as opened:
        yield opened


def test_demo_server_imports_only_what_ollama_converts(demo_server: DemoServer, client,
                                                       tiny_base_model: Path,
                                                       tmp_path: Path) -> None:
    files = {p.name: client.create_blob(p) for p in tiny_base_model.iterdir()
             if p.name in ("config.json", "tokenizer.json", "model.safetensors")}
    client.create(model="imported", files=files, quantize="q4_k_m")
    assert demo_server.has_model("imported")
    assert "ADAPTER" not in client.show("imported").modelfile
    config = json.loads((tiny_base_model / "config.json").read_text())
    other = tmp_path / "config.json"
    other.write_text(json.dumps({**config, "architectures": ["GPTNeoXForCausalLM"]}))
    with pytest.raises(ollama.ResponseError, match="unsupported architecture"):
        client.create(model="neox", files={**files, "config.json": client.create_blob(other)})
    with pytest.raises(ollama.ResponseError, match="tokenizer"):
        client.create(model="no-tokenizer", files={k: v for k, v in files.items()
                                                   if k != "tokenizer.json"})
    with pytest.raises(ollama.ResponseError, match="quantization"):
        client.create(model="odd", files=files, quantize="q3_weird")


def test_old_ollama_gets_the_adapter_model(app, settings, persona, cli_env, connect,
                                          demo_server: DemoServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert register(settings, persona) == 0
    out = capsys.readouterr()
    assert "the adapter on the worker model" in out.err and "adapter on" in out.out
    created = demo_server.created[f"persona-{persona.slug}:latest"]
    assert created["from"] == settings.worker_model and "adapter.gguf" in created["adapters"]
    assert not created.get("files")
    with session_scope(app) as session:
        record = session.get(Persona, persona.id).adapter_served
    assert record["engine"] == "ollama" and record["model"] == f"persona-{persona.slug}"
    assert record["servers"] == [{"host": demo_server.url, "version": demo_server.version,
                                  "method": "adapter"}]

    assert connect(app).ask("How should I lay out a Flask project?").one(
        "round_done")["status"] == "done"
    answer = answer_of(app, persona)
    assert (answer.model, answer.variant) == (f"persona-{persona.slug}", "lora")
    assert f"persona-{persona.slug}" in asked_models(demo_server)

    demo_server.version = NEW  # Ollama upgraded: models built with an adapter still serve
    demo_server.requests.clear()
    connect(app).ask("And after the upgrade?")
    assert answer_of(app, persona).variant == "lora"
    assert f"persona-{persona.slug}" in asked_models(demo_server)


def test_new_ollama_gets_a_merged_model(app, settings, persona, cli_env, connect,
                                       demo_server: DemoServer, tiny_base_model: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    demo_server.version = NEW
    assert register(settings, persona) == 0
    out = capsys.readouterr()
    assert f"Ollama {NEW} at {demo_server.url}: a merged model" in out.err
    assert f"Merging: {estimate_merge(str(tiny_base_model)).describe()}" in out.err, \
        "the size and time are said before it starts"
    created = demo_server.created[f"persona-{persona.slug}:latest"]
    assert not created.get("adapters") and not created.get("from")
    assert {"config.json", "tokenizer.json"} <= set(created["files"])
    assert any(name.endswith(".safetensors") for name in created["files"])
    assert created["quantize"] == settings.ollama_quantize == "q4_k_m"
    sent = sum(demo_server.blobs[digest] for digest in created["files"].values())
    assert sent == pytest.approx(estimate_merge(str(tiny_base_model)).size_bytes, rel=0.05)
    assert not (settings.loras_dir / persona.slug / "merged").exists(), \
        "Ollama keeps its own copy; the base-sized folder is not left behind"
    with session_scope(app) as session:
        record = session.get(Persona, persona.id).adapter_served
    assert record["servers"] == [{"host": demo_server.url, "version": NEW, "method": "merged"}]

    assert connect(app).ask("How should I lay out a Flask project?").one(
        "round_done")["status"] == "done"
    answer = answer_of(app, persona)
    assert (answer.model, answer.variant) == (f"persona-{persona.slug}", "lora")
    assert f"persona-{persona.slug}" in asked_models(demo_server)


def test_a_build_from_source_is_offered_the_adapter_then_merged(app, settings, persona, cli_env,
                                                               demo_server: DemoServer,
                                                               capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    demo_server.version = "0.0.0"  # what Ollama built from source answers
    assert register(settings, persona) == 0
    assert "the adapter, or a merged model if it refuses" in capsys.readouterr().err
    created = demo_server.created[f"persona-{persona.slug}:latest"]
    assert created["files"] and not created.get("adapters")
    with session_scope(app) as session:
        record = session.get(Persona, persona.id).adapter_served
    assert record["servers"] == [{"host": demo_server.url, "version": "0.0.0",
                                  "method": "merged"}]


def test_nothing_can_work_names_the_alternatives(app, settings, persona, cli_env, connect,
                                                 demo_server: DemoServer, tiny_base_model: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    demo_server.version = NEW
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    neox = tmp_path / "neox-base"
    shutil.copytree(tiny_base_model, neox)
    config = json.loads((neox / "config.json").read_text())
    (neox / "config.json").write_text(json.dumps({**config,
                                                  "architectures": ["GPTNeoXForCausalLM"]}))
    for base, reason in ((neox, "GPTNeoXForCausalLM"), ("no/such-model", "not on disk")):
        metadata_path = settings.loras_dir / persona.slug / "metadata.json"
        metadata = json.loads(metadata_path.read_text())
        metadata_path.write_text(json.dumps({**metadata, "base_model": str(base)}))
        assert register(settings, persona) == 2
        error = capsys.readouterr().err
        assert reason in error and "0.34.1" in error
        for alternative in ("COUNCIL_BACKEND=embedded", "vLLM", "--enable-lora",
                            "llama.cpp's server"):
            assert alternative in error
    assert f"persona-{persona.slug}:latest" not in demo_server.created
    with session_scope(app) as session:
        stored = session.get(Persona, persona.id)
        assert stored.adapter_served is None and stored.current_variant == "prompt"
    connect(app).ask("Who answers now?")
    answer = answer_of(app, persona)
    assert (answer.model, answer.variant) == (persona.model or settings.worker_model, "prompt")


def test_every_worker_server_gets_what_its_version_allows(app, settings, persona, cli_env,
                                                          demo_server: DemoServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with DemoServer(version=NEW) as new:
        monkeypatch.setenv("COUNCIL_WORKER_HOSTS", f"{demo_server.url},{new.url}")
        assert register(settings, persona) == 0
        assert demo_server.created[f"persona-{persona.slug}:latest"]["adapters"]
        assert new.created[f"persona-{persona.slug}:latest"]["files"]
    with session_scope(app) as session:
        stored = session.get(Persona, persona.id)
    assert [s["method"] for s in stored.adapter_served["servers"]] == ["adapter", "merged"]
    base = stored.model or settings.worker_model

    def served(kind: str, *hosts: str) -> tuple[str, str]:
        plan = plan_answer(stored, [], Serving(kind, kind == "embedded", hosts), base)
        return plan.model, plan.variant

    lora = (f"persona-{persona.slug}", "lora")
    assert served("ollama", demo_server.url, new.url) == lora
    assert served("ollama", new.url) == lora
    assert served("ollama", demo_server.url, "http://127.0.0.1:1") == (base, "prompt"), \
        "a server it was never registered on would answer without the adapter"
    assert served("openai", demo_server.url) == (base, "prompt")
    assert served("embedded", "embedded") == (base, "prompt")


def test_a_persona_registered_before_verification_answers_prompt_only(app, settings, persona,
                                                                      connect,
                                                                      demo_server: DemoServer
                                                                      ) -> None:
    demo_server.add_model(f"persona-{persona.slug}")
    with session_scope(app) as session:
        stored = session.get(Persona, persona.id)
        stored.adapter_model, stored.variant = f"persona-{persona.slug}", "lora"
    connect(app).ask("Which model answers?")
    answer = answer_of(app, persona)
    assert answer.variant == "prompt" and answer.model == (persona.model or settings.worker_model)
    assert f"persona-{persona.slug}" not in asked_models(demo_server)


def test_a_model_created_without_its_adapter_is_refused(demo_server: DemoServer,
                                                        client) -> None:
    client.create(model="persona-lost", from_="qwen2.5:3b")
    with pytest.raises(RegistrationError, match="without its adapter"):
        _verify(client, demo_server.url, "persona-lost", "adapter", "sha256:" + "ab" * 32)


def test_training_page_says_what_register_will_do(app, settings, persona, demo_server: DemoServer,
                                                  tiny_base_model: Path) -> None:
    client = app.test_client()
    app.config["SETTINGS"] = settings.with_changes(train_base_model=str(tiny_base_model))
    plan = client.get("/api/training").get_json()["serve_plan"]
    assert not plan["merges"] and "the adapter on the worker model" in plan["text"]
    demo_server.version = NEW
    plan = client.get("/api/training").get_json()["serve_plan"]
    assert plan["merges"] and not plan["problem"]
    assert "a merged model" in plan["text"]
    estimate = estimate_merge(str(tiny_base_model))
    assert estimate.describe() in plan["text"]
    assert f"≈ {human_size(estimate.parameters * 4.9 / 8)} q4_k_m each" in plan["text"]
    app.config["SETTINGS"] = settings.with_changes(train_base_model="no/such-model")
    plan = client.get("/api/training").get_json()["serve_plan"]
    assert plan["problem"] and "COUNCIL_BACKEND=embedded" in plan["text"]


def test_plan_needs_a_server_that_answers() -> None:
    with pytest.raises(RegistrationError, match="Cannot reach Ollama"):
        plan_ollama(("http://127.0.0.1:1",), "Qwen/Qwen2.5-3B-Instruct", "q4_k_m", timeout=1.0)
