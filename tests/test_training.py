"""Per-persona LoRA: data from the demo synthesizer → PEFT training of a tiny Qwen2 on CPU →
GGUF adapter read back → registered through the demo server → the next round uses it."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from sqlalchemy import select

from council.db import session_scope
from council.files import PersonaFiles
from council.llm.demo_server import DemoServer
from council.models import Persona, WorkerAnswer
from council.personas import list_personas
from council.training.data import (
    PersonaSpec,
    TrainingDataError,
    drop_reason,
    prepare_training_data,
)
from council.training.environment import EnvironmentReport, check_environment
from council.training.gguf_export import (
    AdapterExportError,
    gguf_tensor_name,
)
from council.job_process import StopFlag
from council.training.train import TrainSettings, train_adapter
from scripts import prepare_lora_data, register_lora, train_lora
from tests.training_data import memorisable_set

QUESTIONS = [f"How should I structure module {n} of my Flask app so that tests stay fast?"
             for n in range(12)]


def write_cluster(personas_dir: Path, slug: str, texts: list[str]) -> None:
    folder = personas_dir / "clusters"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"persona_{slug}.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")


def chat_requests(demo: DemoServer) -> list[dict]:
    return [r for r in demo.requests if "messages" in r]


@pytest.fixture
def persona(app, settings) -> Persona:
    with session_scope(app) as session:
        chosen = list_personas(session)[0]
    write_cluster(settings.data_dir / "personas", chosen.slug, QUESTIONS)
    return chosen


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings, demo_server: DemoServer,
            tiny_base_model: Path) -> None:
    """The CLIs read settings from the environment, as the job runner passes them."""
    monkeypatch.setenv("OLLAMA_HOST", demo_server.url)
    monkeypatch.setenv("COUNCIL_LORAS_DIR", str(settings.loras_dir))
    monkeypatch.setenv("COUNCIL_TRAIN_BASE_MODEL", str(tiny_base_model))


@pytest.fixture
def settings(settings, tmp_path: Path):
    return settings.with_changes(loras_dir=tmp_path / "loras")


def test_drop_reasons() -> None:
    assert drop_reason("   ") == "empty"
    assert drop_reason("ok") == "empty"
    assert drop_reason("I'm sorry, but I can't help with that request at all, truly.") == "refused"
    assert drop_reason("I cannot assist with that; please ask something else entirely.") == \
        "refused"
    assert drop_reason("Sure. As an AI language model I would structure it with blueprints.") \
        == "off_persona"
    assert drop_reason("Split the app into blueprints and keep the factory small; tests then "
                       "build a fresh app each time.") is None


def test_prepare_data_resumes_and_splits(app, settings, persona, demo_server: DemoServer,
                                         cli_env, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = settings.data_dir
    assert prepare_lora_data.main(["--persona", persona.name, "--examples", "5",
                                   "--data-dir", str(data_dir), "--progress", "json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["done"] for line in lines if line["stage"] == "generate"] == [0, 1, 2, 3, 4, 5]
    assert lines[-1]["generated_now"] == 5 and lines[-1]["reused"] == 0
    assert lines[-1]["eval"] == 0 and "no held-out split: 5 pairs are too few" in err
    assert len(chat_requests(demo_server)) == 5
    log = PersonaFiles.in_data_dir(data_dir).training_pairs(persona.slug)[2]
    assert [json.loads(line)["question"] for line in log.read_text().splitlines()] == \
        QUESTIONS[:5], "answered up to four at a time, logged in question order"
    assert all(r["model"] == settings.synth_model for r in chat_requests(demo_server))

    demo_server.requests.clear()
    assert prepare_lora_data.main(["--persona", persona.slug, "--examples", "12",
                                   "--data-dir", str(data_dir), "--progress", "json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["reused"] == 5 and summary["generated_now"] == 7
    assert len(chat_requests(demo_server)) == 7, "a re-run never asks twice"
    train, evaluation, log = PersonaFiles.in_data_dir(data_dir).training_pairs(persona.slug)
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    held = [json.loads(line) for line in evaluation.read_text().splitlines()]
    assert len(rows) + len(held) == 12 == summary["train"] + summary["eval"]
    assert len(held) == 3, "12 pairs: 3 held out, 9 to train on"
    questions = [r["messages"][1]["content"] for r in rows + held]
    assert sorted(questions) == sorted(QUESTIONS)
    for row in rows + held:
        system, user, assistant = row["messages"]
        assert system == {"role": "system", "content": persona.system_prompt}
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert len(assistant["content"]) >= 40 and "{" not in assistant["content"]
    assert len(log.read_text().splitlines()) == 12


def test_prepare_data_drops_failed_generations(settings, demo_server: DemoServer,
                                               tmp_path: Path) -> None:
    from council.llm.ollama_backend import OllamaBackend

    spec = PersonaSpec("critic", "Critic", "You are a critic.")
    demo_server.set_fault(settings.synth_model, "http_500")
    backend = OllamaBackend(demo_server.url, timeout=5)
    try:
        result = prepare_training_data(spec, QUESTIONS[:3], backend, settings.synth_model,
                                       tmp_path, examples=3)
        assert result.train == 0 and result.dropped == {"error": 3}
        with pytest.raises(TrainingDataError, match="no messages"):
            prepare_training_data(spec, [], backend, settings.synth_model, tmp_path)
    finally:
        backend.close()


def test_check_only_without_unsloth(capsys: pytest.CaptureFixture[str]) -> None:
    report = check_environment()
    assert report.packages["unsloth"] is False and not report.can_train_gpu
    assert report.can_train, "transformers + PEFT + accelerate are installed for the tests"
    assert train_lora.main(["--check-only"]) == 0
    out = capsys.readouterr().out
    assert "unsloth: MISSING" in out and "requirements-train.txt" in out
    assert "ready: transformers + PEFT" in out

    nothing = check_environment(importable=lambda name: name == "torch")
    assert not nothing.can_train and any("pip install" in p for p in nothing.problems)
    assert "peft: MISSING" in "\n".join(nothing.lines())


def test_check_only_exit_code_when_nothing_can_train(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("council.commands.train.check_environment",
                        lambda: EnvironmentReport({"torch": True, "peft": False}))
    assert train_lora.main(["--check-only", "--progress", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["check"]["can_train"] is False


def test_peft_training_learns_and_cancels(tmp_path: Path, tiny_base_model: Path) -> None:
    data = memorisable_set(tmp_path)
    seen: list[dict] = []
    settings = TrainSettings(slug="terse", base_model=str(tiny_base_model), max_steps=40,
                             learning_rate=1e-2, batch_size=2, gradient_accumulation=1,
                             backend="peft")
    metadata = train_adapter(settings, data, None, tmp_path / "loras",
                             lambda stage, done, total, **f: seen.append(
                                 {"stage": stage, "done": done, "total": total, **f}))
    losses = metadata["losses"]
    assert metadata["state"] == "done" and metadata["steps"] == 40 and len(losses) == 40
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses
    train_lines = [s for s in seen if s["stage"] == "train"]
    assert [s["done"] for s in train_lines] == list(range(1, 41))
    assert all(s["total"] == 40 and s["learning_rate"] is not None for s in train_lines)
    assert train_lines[-1]["eta_s"] == 0
    saved = json.loads((tmp_path / "loras" / "terse" / "metadata.json").read_text())
    assert saved["data"]["sha256"] and saved["data"]["bytes"] == data.stat().st_size
    assert saved["settings"]["lora_r"] == 16 and saved["peak_memory"]["rss_mb"] > 0
    adapter = Path(saved["adapter_dir"])
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 16

    stop = StopFlag()
    def stop_after_three(stage: str, done: int, total: int, **_: object) -> None:
        if stage == "train" and done == 3:
            stop.event.set()
    cancelled = train_adapter(TrainSettings(slug="cancelled", base_model=str(tiny_base_model),
                                            max_steps=50, backend="peft", batch_size=2,
                                            gradient_accumulation=1),
                              data, None, tmp_path / "loras", stop_after_three, stop)
    assert cancelled["state"] == "cancelled" and cancelled["steps"] == 3
    checkpoint = tmp_path / "loras" / "cancelled" / "checkpoint-3"
    assert (checkpoint / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "loras" / "cancelled" / "adapter").exists()
    assert not list((tmp_path / "loras" / "cancelled").glob(".*")), "no staging left behind"


def test_gguf_names_and_refusals() -> None:
    assert gguf_tensor_name("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight") \
        == "blk.3.attn_q.weight.lora_a"
    assert gguf_tensor_name("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight") \
        == "blk.0.ffn_down.weight.lora_b"
    for key in ("base_model.model.lm_head.lora_A.weight",
                "base_model.model.model.embed_tokens.lora_embedding_A",
                "base_model.model.model.layers.0.self_attn.rotary.lora_A.weight"):
        with pytest.raises(AdapterExportError):
            gguf_tensor_name(key)


def test_full_flow_data_train_gguf_register_round(app, settings, persona, cli_env,
                                                  demo_server: DemoServer, tiny_base_model,
                                                  connect,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import gguf

    data_dir = ["--data-dir", str(settings.data_dir)]
    # 12 pairs: 3 held out, so training reports an eval loss
    assert prepare_lora_data.main(["--persona", persona.slug, "--examples", "12", *data_dir]) == 0
    assert train_lora.main(["--persona", persona.slug, "--max-steps", "6", "--batch-size", "2",
                            "--backend", "peft", "--progress", "json", *data_dir]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert lines[-1]["state"] == "done" and lines[-1]["steps"] == 6
    folder = settings.loras_dir / persona.slug
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["base_model"] == str(tiny_base_model) and metadata["eval_loss"] is not None

    assert register_lora.main(["--persona", persona.slug, *data_dir]) == 0
    assert f"persona-{persona.slug}" in capsys.readouterr().out

    reader = gguf.GGUFReader(str(folder / "adapter.gguf"))
    def field(name: str):
        part = reader.fields[name]
        value = part.parts[part.data[0]]
        return bytes(value).decode() if part.types[0] == gguf.GGUFValueType.STRING else value[0]
    assert field("general.architecture") == "qwen2"
    assert field("general.type") == "adapter" and field("adapter.type") == "lora"
    assert field("adapter.lora.alpha") == pytest.approx(16.0)
    peft = load_file(str(Path(metadata["adapter_dir"]) / "adapter_model.safetensors"))
    expected = {gguf_tensor_name(k): v for k, v in peft.items()}
    written = {t.name: t for t in reader.tensors}
    assert set(written) == set(expected) and len(written) == 2 * 7 * 2  # 2 layers x 7 x (A, B)
    for name, tensor in written.items():
        assert tuple(reversed(tensor.shape.tolist())) == expected[name].shape
        assert np.allclose(np.asarray(tensor.data).reshape(expected[name].shape),
                           expected[name], atol=1e-6)
    assert written["blk.0.attn_q.weight.lora_a"].data.shape == (16, 32)  # r x in
    assert written["blk.0.ffn_down.weight.lora_b"].data.shape == (32, 16)  # out x r

    model = f"persona-{persona.slug}:latest"
    created = demo_server.created[model]
    assert created["from"] == settings.worker_model
    digest = created["adapters"]["adapter.gguf"]
    assert demo_server.blobs[digest] == (folder / "adapter.gguf").stat().st_size
    with session_scope(app) as session:
        stored = session.get(Persona, persona.id)
        assert stored.adapter_model == f"persona-{persona.slug}" and stored.variant == "lora"
        assert stored.model == persona.model, "the prompt-only model stays recorded"

    result = connect(app).ask("How should I lay out a Flask project?")
    assert result.one("round_done")["status"] == "done"
    with session_scope(app) as session:
        answer = session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.persona_id == persona.id)).one()
        assert answer.model == f"persona-{persona.slug}" and answer.variant == "lora"
    asked = {r["model"] for r in chat_requests(demo_server)}
    assert f"persona-{persona.slug}" in asked


def test_register_refuses_without_training(app, settings, persona, cli_env,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert register_lora.main(["--persona", persona.slug,
                               "--data-dir", str(settings.data_dir)]) == 2
    assert "train it first" in capsys.readouterr().err


def test_ollama_refuses_an_adapter_trained_for_the_engines_gguf(
        app, settings, persona, cli_env, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COUNCIL_BACKEND", "ollama")
    folder = settings.loras_dir / persona.slug
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({
        "state": "done", "adapter_dir": str(folder / "adapter"),
        "base_model": "/models/SmolLM2-135M-Instruct.Q4_1.gguf"}))
    assert register_lora.main(["--persona", persona.slug,
                               "--data-dir", str(settings.data_dir)]) == 2
    error = capsys.readouterr().err
    assert "for the embedded engine" in error and "COUNCIL_BACKEND=embedded" in error


def test_generate_script_writes_resolved_settings(app, settings, persona, cli_env, tmp_path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert train_lora.main(["--persona", persona.slug, "--mode", "16GB", "--generate-script",
                            "--data-dir", str(settings.data_dir)]) == 0
    script = tmp_path / f"train_{persona.slug.replace('-', '_')}_lora.py"
    text = script.read_text()
    compile(text, str(script), "exec")
    assert "'batch_size': 2" in text and "'gradient_accumulation': 4" in text
    assert "'max_seq_length': 2048" in text and "StopFlag" in text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_flag_is_set_by_the_signals_a_cancel_sends(signum: int) -> None:
    """The job runner cancels a training run with SIGTERM (Ctrl-C sends SIGINT): either only
    sets the flag, so the trainer stops after its step and keeps a checkpoint."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    flag = StopFlag()
    try:
        signal.signal(signum, lambda *_: None)  # were install() to miss it, the test fails
        flag.install()                          # instead of the signal ending pytest
        assert not flag.event.is_set()
        os.kill(os.getpid(), signum)
        assert flag.event.wait(2)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
