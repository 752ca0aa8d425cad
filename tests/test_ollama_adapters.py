"""Persona adapters through Ollama, registered by trying: against the demo server as an old
release, the newest source, the reported newest release refusing adapter models (HTTP 500, or an
error line mid-stream), and an old release whose engine creates an adapter model that cannot
answer. Every registration ends with a persona that answers through its model, or prompt-only
with the reason and the fix; never with an exception. A round records what was really served."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import pytest
from sqlalchemy import select

from council.config import Settings, SettingsError
from council.db import session_scope
from council.files import AdapterFiles
from council.llm.base import LLMError
from council.llm.demo_server import DemoServer
from council.llm.ollama_versions import (
    adapters_fail_to_load,
    parse_version,
    reported_to_refuse_adapters,
)
from council.models import Persona, WorkerAnswer
from council.personas import list_personas
from council.training.merge import estimate_merge
from council.training.ollama_register import (
    OllamaPlan,
    ServerRoute,
    TrainedAdapter,
    plan_ollama,
    register_with_ollama,
)
from council.training.ollama_serving import _built_as_asked
from council.training.register import RegistrationError
from council.units import human_size
from council.variants import Serving, plan_answer
from scripts import register_lora
from tests.lora_adapters import write_trained_adapter

REPORTED = "0.34.1"  # the release a third-party report says refuses adapter models
ALTERNATIVES = ("COUNCIL_BACKEND=embedded", "--enable-lora", "llama.cpp's server")


@pytest.fixture
def settings(settings, tmp_path: Path):
    return settings.with_changes(loras_dir=tmp_path / "loras")


@pytest.fixture(autouse=True)
def accepting(demo_server: DemoServer) -> Iterator[None]:
    """The session's demo server accepts adapter models again after each test."""
    yield
    demo_server.adapter_refusal = None


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


@pytest.fixture
def client(demo_server: DemoServer):
    with ollama.Client(host=demo_server.url) as opened:
        yield opened


def register(settings, persona: Persona) -> int:
    return register_lora.main(["--persona", persona.slug, "--data-dir", str(settings.data_dir)])


def stored(app, persona: Persona) -> Persona:
    with session_scope(app) as session:
        found = session.get(Persona, persona.id)
        session.expunge(found)
        return found


def outcome(settings, persona: Persona) -> dict[str, Any]:
    """The registration outcome kept for the Training page."""
    return AdapterFiles(settings.loras_dir, persona.slug).read_metadata()["registration"]


def answer_of(app, persona: Persona) -> WorkerAnswer:
    with session_scope(app) as session:
        return session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.persona_id == persona.id).order_by(WorkerAnswer.id.desc())).first()


def asked_models(demo: DemoServer) -> set[str]:
    return {r["model"] for r in demo.requests if "messages" in r}


def set_base(settings, persona: Persona, base: Path | str) -> None:
    """Record `base` as what the persona's adapter was trained on."""
    files = AdapterFiles(settings.loras_dir, persona.slug)
    files.write_metadata({**files.read_metadata(), "base_model": str(base)})


def yarn_qwen2(tiny_base_model: Path, folder: Path) -> Path:
    """The tiny Qwen2 with YaRN RoPE scaling, which Ollama's qwen2 converter cannot import."""
    shutil.copytree(tiny_base_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["rope_scaling"] = {"type": "yarn", "factor": 4.0,
                              "original_max_position_embeddings": 256}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def assert_answers_through_its_model(app, persona: Persona, connect,
                                     demo: DemoServer) -> None:
    demo.requests.clear()
    assert connect(app).ask("How should I lay out a Flask project?").one(
        "round_done")["status"] == "done"
    answer = answer_of(app, persona)
    assert (answer.model, answer.variant) == (f"persona-{persona.slug}", "lora")
    assert f"persona-{persona.slug}" in asked_models(demo)


def assert_prompt_only(app, settings, persona: Persona, connect, demo: DemoServer) -> None:
    found = stored(app, persona)
    assert found.adapter_served is None and found.current_variant == "prompt"
    assert not demo.has_model(f"persona-{persona.slug}"), "no model that cannot serve is left"
    demo.requests.clear()
    connect(app).ask("Who answers now?")
    answer = answer_of(app, persona)
    assert (answer.model, answer.variant) == (found.model or settings.worker_model, "prompt")
    assert f"persona-{persona.slug}" not in asked_models(demo)


def test_version_hints() -> None:
    assert parse_version("0.12.6") == (0, 12, 6) and parse_version("v0.34.1-rc2") == (0, 34, 1)
    assert parse_version("0.12.6-demo") == (0, 12, 6) and parse_version("dev") is None
    assert not reported_to_refuse_adapters("0.34.0") and reported_to_refuse_adapters(REPORTED)
    assert not reported_to_refuse_adapters("0.0.0"), "a build from source is the newest source"
    assert adapters_fail_to_load("0.24.0", "qwen3") and not adapters_fail_to_load("0.30.0",
                                                                                   "qwen3")
    assert not adapters_fail_to_load("0.12.6", "qwen2")


@pytest.mark.parametrize(("version", "refusal", "method"), [
    ("0.12.6", None, "adapter"),  # an old release
    ("0.0.0", None, "adapter"),  # built from source: the newest source accepts adapters
    ("0.33.0", None, "adapter"),
    (REPORTED, None, "adapter"),  # the report is unconfirmed: the adapter is offered anyway
    (REPORTED, "http_500", "merged"),  # refused as the report says: create's `from` path, 500
    (REPORTED, "stream_error", "merged"),  # refused by an error line mid-stream (status -1)
])
def test_registration_in_each_mode(app, settings, persona, cli_env, connect,
                                   demo_server: DemoServer, tiny_base_model: Path,
                                   capsys: pytest.CaptureFixture[str], version: str,
                                   refusal: str | None, method: str) -> None:
    demo_server.version, demo_server.adapter_refusal = version, refusal
    assert register(settings, persona) == 0
    out = capsys.readouterr()
    assert f"Ollama {version} at {demo_server.url}" in out.err, "the plan is said first"
    assert f"the {method} model" in out.out
    created = demo_server.created[f"persona-{persona.slug}:latest"]
    if method == "adapter":
        assert created["from"] == settings.worker_model and "adapter.gguf" in created["adapters"]
        assert not created.get("files")
    else:
        assert not created.get("adapters") and not created.get("from")
        assert {"config.json", "tokenizer.json"} <= set(created["files"])
        assert created["quantize"] == "Q4_K_M"
        sent = sum(demo_server.blobs[digest] for digest in created["files"].values())
        assert sent == pytest.approx(estimate_merge(str(tiny_base_model)).size_bytes, rel=0.05)
    assert not (settings.loras_dir / persona.slug / "merged").exists(), \
        "Ollama keeps its own copy; the base-sized folder is not left behind"
    [server] = stored(app, persona).adapter_served["servers"]
    assert (server["host"], server["version"], server["method"]) == (demo_server.url, version,
                                                                     method)
    if refusal:
        [note] = server["notes"]
        assert "adapter model was refused" in note and len(note) > len(
            "the adapter model was refused: "), "the server's own text is kept"
        assert note in out.out
    else:
        assert server["notes"] == []
    assert outcome(settings, persona)["state"] == "served"
    assert f"persona-{persona.slug}" in asked_models(demo_server), \
        "the model answered a short question before the persona used it"
    assert_answers_through_its_model(app, persona, connect, demo_server)


def test_an_adapter_model_that_cannot_answer_is_removed_and_merged(
        app, settings, persona, cli_env, connect, demo_server: DemoServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before 0.30 a qwen3 worker model takes the adapter at create and fails the first chat
    ("loras are not yet implemented"): the merged model serves instead."""
    demo_server.version = "0.24.0"
    demo_server.add_model("qwen3:4b")
    with session_scope(app) as session:
        session.get(Persona, persona.id).model = "qwen3:4b"
    assert register(settings, persona) == 0
    out = capsys.readouterr()
    assert "qwen3" in out.err and "0.30" in out.err, "the plan expects it"
    [server] = stored(app, persona).adapter_served["servers"]
    assert server["method"] == "merged"
    [note] = server["notes"]
    assert "cannot answer" in note
    assert demo_server.created[f"persona-{persona.slug}:latest"]["files"]
    assert_answers_through_its_model(app, persona, connect, demo_server)


def test_an_adapter_model_that_cannot_answer_and_no_merge_leave_prompt_only(
        app, settings, persona, cli_env, connect, demo_server: DemoServer,
        tiny_base_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo_server.version = "0.24.0"
    demo_server.add_model("qwen3:4b")
    with session_scope(app) as session:
        session.get(Persona, persona.id).model = "qwen3:4b"
    set_base(settings, persona, yarn_qwen2(tiny_base_model, tmp_path / "yarn-qwen2"))
    assert register(settings, persona) == 1
    error = capsys.readouterr().err
    assert "stays prompt-only" in error and "cannot answer" in error
    assert "0.30" in error, "the fix: an Ollama whose runner applies adapters"
    for alternative in ALTERNATIVES:
        assert alternative in error
    kept = outcome(settings, persona)
    assert kept["state"] == "prompt-only" and kept["reason"] in error
    [server] = kept["servers"]
    assert server["method"] is None and "yarn" in server["notes"][-1]
    assert_prompt_only(app, settings, persona, connect, demo_server)
    card = next(p for p in app.test_client().get("/api/training").get_json()["personas"]
                if p["slug"] == persona.slug)
    assert card["adapter"]["registration"]["state"] == "prompt-only"
    assert "cannot answer" in card["adapter"]["registration"]["reason"]


def test_a_refusal_with_no_merge_leaves_prompt_only_on_every_server(
        app, settings, persona, cli_env, connect, demo_server: DemoServer,
        tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """One server refuses the adapter and the base cannot be imported: the other server's
    adapter model, which answered, is removed too (rounds would use it on one server only)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    neox = tmp_path / "neox-base"
    shutil.copytree(tiny_base_model, neox)
    config = json.loads((neox / "config.json").read_text())
    (neox / "config.json").write_text(json.dumps({**config,
                                                  "architectures": ["GPTNeoXForCausalLM"]}))
    with DemoServer(version=REPORTED, adapter_refusal="http_500") as refusing:
        monkeypatch.setenv("COUNCIL_WORKER_HOSTS", f"{demo_server.url},{refusing.url}")
        set_base(settings, persona, neox)
        assert register(settings, persona) == 1
        error = capsys.readouterr().err
        assert "GPTNeoXForCausalLM" in error and "refused" in error
        for alternative in ALTERNATIVES:
            assert alternative in error
        first, second = outcome(settings, persona)["servers"]
        assert first["method"] is None and "removed again" in first["notes"][-1]
        assert second["method"] is None
        assert not refusing.has_model(f"persona-{persona.slug}")
        # a base that is not on disk: neither the GGUF export nor a merge can be made
        set_base(settings, persona, "no/such-model")
        assert register(settings, persona) == 1
        error = capsys.readouterr().err
        assert "cannot be exported" in error and "not on disk" in error
    monkeypatch.delenv("COUNCIL_WORKER_HOSTS")
    assert_prompt_only(app, settings, persona, connect, demo_server)


def test_a_server_that_cannot_be_reached_is_an_error(settings, persona) -> None:
    files = AdapterFiles(settings.loras_dir, persona.slug)
    metadata = files.read_metadata()
    plan = OllamaPlan((ServerRoute("http://127.0.0.1:1", "0.12.6"),), None, None, "Q4_K_M")
    with pytest.raises(LLMError, match="Cannot reach Ollama"):
        register_with_ollama(plan, persona.slug, settings.worker_model, TrainedAdapter(
            Path(metadata["adapter_dir"]), metadata["base_model"], files.gguf, files.merged))


def test_every_worker_server_gets_what_it_serves(app, settings, persona, cli_env,
                                                 demo_server: DemoServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with DemoServer(version=REPORTED, adapter_refusal="stream_error") as refusing:
        monkeypatch.setenv("COUNCIL_WORKER_HOSTS", f"{demo_server.url},{refusing.url}")
        assert register(settings, persona) == 0
        assert demo_server.created[f"persona-{persona.slug}:latest"]["adapters"]
        assert refusing.created[f"persona-{persona.slug}:latest"]["files"]
    found = stored(app, persona)
    assert [s["method"] for s in found.adapter_served["servers"]] == ["adapter", "merged"]
    base = found.model or settings.worker_model

    def served(kind: str, *hosts: str) -> tuple[str, str]:
        plan = plan_answer(found, [], Serving(kind, kind == "embedded", hosts), base)
        return plan.model, plan.variant

    lora = (f"persona-{persona.slug}", "lora")
    assert served("ollama", demo_server.url, refusing.url) == lora
    assert served("ollama", refusing.url) == lora
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
        found = session.get(Persona, persona.id)
        found.adapter_model, found.variant = f"persona-{persona.slug}", "lora"
    connect(app).ask("Which model answers?")
    answer = answer_of(app, persona)
    assert answer.variant == "prompt" and answer.model == (persona.model or settings.worker_model)
    assert f"persona-{persona.slug}" not in asked_models(demo_server)


def test_a_model_created_without_its_adapter_does_not_count(client) -> None:
    client.create(model="persona-lost", from_="qwen2.5:3b")
    assert "without its adapter" in _built_as_asked(client, "persona-lost", "adapter",
                                                    "sha256:" + "ab" * 32)
    assert _built_as_asked(client, "persona-lost", "merged", None) is None


def test_training_page_says_what_register_will_try(app, settings, persona,
                                                   demo_server: DemoServer,
                                                   tiny_base_model: Path) -> None:
    client = app.test_client()
    app.config["SETTINGS"] = settings.with_changes(train_base_model=str(tiny_base_model))
    plan = client.get("/api/training").get_json()["serve_plan"]
    assert not plan["merges"] and not plan["problem"]
    assert "the adapter on the worker model, a merged model if it is refused" in plan["text"]
    demo_server.version = REPORTED
    plan = client.get("/api/training").get_json()["serve_plan"]
    assert plan["merges"] and not plan["problem"]
    assert "reported to refuse adapter models" in plan["text"]
    estimate = estimate_merge(str(tiny_base_model))
    assert estimate.describe() in plan["text"]
    assert f"≈ {human_size(estimate.parameters * 4.9 / 8)} Q4_K_M each" in plan["text"]
    app.config["SETTINGS"] = settings.with_changes(train_base_model="no/such-model")
    plan = client.get("/api/training").get_json()["serve_plan"]
    assert not plan["problem"], "the adapter is still offered: Register stays on"
    assert "no merged model can be made" in plan["text"]
    assert "COUNCIL_BACKEND=embedded" in plan["text"]


def test_quantize_types_and_their_weights(demo_server: DemoServer,
                                          tiny_base_model: Path) -> None:
    assert Settings.from_env({"COUNCIL_OLLAMA_QUANTIZE": "q4_k_s"}).ollama_quantize == "Q4_K_S"
    assert Settings.from_env({"COUNCIL_OLLAMA_QUANTIZE": "bf16"}).ollama_quantize == "BF16"
    with pytest.raises(SettingsError, match="Q4_K_M"):
        Settings.from_env({"COUNCIL_OLLAMA_QUANTIZE": "q3_k"})
    parameters = estimate_merge(str(tiny_base_model)).parameters
    for quantize, bits in (("f16", 16), ("", 16), ("F32", 32), ("q8_0", 8.5)):
        plan = plan_ollama((demo_server.url,), str(tiny_base_model), quantize)
        assert plan.merged_weights_bytes() == int(parameters * bits / 8), \
            "an unquantized import is written as F16, whatever the files hold"


def test_plan_needs_a_server_that_answers() -> None:
    with pytest.raises(RegistrationError, match="Cannot reach Ollama"):
        plan_ollama(("http://127.0.0.1:1",), "Qwen/Qwen2.5-3B-Instruct", "q4_k_m", timeout=1.0)
