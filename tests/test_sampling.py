"""Repetition options: the settings and a persona's own, what each backend is sent, and the
embedded engine's sampler chain on the real bundled model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from council.config import Settings, SettingsError
from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.llm.embedded import EmbeddedBackend, bundled_model_path
from council.llm.gguf_model import Request
from council.llm.ollama_backend import OllamaBackend
from council.llm.openai_backend import OpenAICompatibleBackend
from council.llm.sampling import EMBEDDED_DEFAULTS, embedded_sampling, sampling_options
from council.personas import PersonaError, list_personas, update_persona, validate_persona

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def test_the_settings_read_name_value_pairs_and_refuse_the_rest() -> None:
    settings = Settings.from_env({"COUNCIL_WORKER_SAMPLING": " repeat_penalty = 1.2,"
                                                             "dry_multiplier=0 ",
                                  "COUNCIL_SYNTH_SAMPLING": "repeat_last_n=128"})
    assert settings.worker_sampling == "repeat_penalty=1.2,dry_multiplier=0.0"
    assert sampling_options(settings.synth_sampling) == {"repeat_last_n": 128}
    assert Settings().worker_sampling == Settings().synth_sampling == ""
    for raw, says in (("top_k=3", "give name=value pairs"), ("repeat_penalty", "name=value"),
                      ("repeat_last_n=1.5", "not an integer"),
                      ("repeat_penalty=0", "greater than 0")):
        with pytest.raises(SettingsError, match=says):
            Settings.from_env({"COUNCIL_WORKER_SAMPLING": raw})


def test_the_embedded_engine_fills_in_what_was_not_set() -> None:
    assert embedded_sampling({}) == EMBEDDED_DEFAULTS
    assert EMBEDDED_DEFAULTS["repeat_penalty"] == 1.1 and EMBEDDED_DEFAULTS["repeat_last_n"] == 64
    mixed = embedded_sampling({"repeat_penalty": 1.3, "temperature": 0.2})
    assert mixed["repeat_penalty"] == 1.3 and mixed["dry_multiplier"] == 0.8
    assert "temperature" not in mixed


def test_a_persona_has_its_own_sampling_validated() -> None:
    clean = validate_persona({"name": "Poet", "system_prompt": "You write verse.",
                              "sampling": "repeat_penalty=1.3"})
    assert clean["sampling"] == "repeat_penalty=1.3"
    assert validate_persona({"name": "Plain", "system_prompt": "You answer."})["sampling"] == ""
    with pytest.raises(PersonaError) as refused:
        validate_persona({"name": "Poet", "system_prompt": "You write verse.",
                          "sampling": "mirostat=2"})
    assert "Sampling names 'mirostat=2'" in refused.value.errors["sampling"]


def test_ollama_is_sent_only_what_was_set(settings: Settings, make_app, connect,
                                          demo_server: DemoServer) -> None:
    """Ollama's own defaults (and a Modelfile's parameters) hold unless a setting or the
    persona says otherwise; the persona's own wins over the workers' setting."""
    app: Flask = make_app(settings.with_changes(worker_sampling="repeat_penalty=1.15",
                                                synth_sampling="frequency_penalty=0.3"))
    with session_scope(app) as session:
        poet = list_personas(session)[0]
        update_persona(session, poet, {"sampling": "repeat_penalty=1.3,dry_multiplier=0.5"})
        poet_prompt = poet.system_prompt
    demo_server.requests.clear()
    assert connect(app).ask("Tabs or spaces?").one("round_done")["status"] == "done"
    workers = [r for r in demo_server.requests if r["model"] == settings.worker_model]
    synth = next(r for r in demo_server.requests if r["model"] == settings.synth_model)
    penalties = {r["messages"][0]["content"] == poet_prompt: r["options"]["repeat_penalty"]
                 for r in workers}
    assert penalties == {True: 1.3, False: 1.15}
    assert not any("dry_multiplier" in r["options"] for r in workers)  # Ollama has no DRY
    assert synth["options"]["frequency_penalty"] == 0.3
    assert "repeat_penalty" not in synth["options"]


def test_ollama_gets_only_the_options_it_knows(closing, demo_server: DemoServer) -> None:
    backend = closing(OllamaBackend(demo_server.url))
    list(backend.stream_chat("qwen2.5:3b", MESSAGES, embedded_sampling({})))
    assert set(demo_server.requests[-1]["options"]) == {
        "repeat_penalty", "repeat_last_n", "frequency_penalty", "presence_penalty"}
    list(backend.stream_chat("qwen2.5:3b", MESSAGES, {"temperature": 0.5}))
    assert demo_server.requests[-1]["options"] == {"temperature": 0.5}


def test_an_openai_compatible_server_gets_the_standard_penalties_only(
        closing, demo_server: DemoServer) -> None:
    backend = closing(OpenAICompatibleBackend(f"{demo_server.url}/v1"))
    list(backend.stream_chat("qwen2.5:3b", MESSAGES,
                             {"frequency_penalty": 0.4, "presence_penalty": 0.1,
                              "repeat_penalty": 1.2, "dry_multiplier": 0.8}))
    sent = demo_server.requests[-1]
    assert sent["frequency_penalty"] == 0.4 and sent["presence_penalty"] == 0.1
    assert "repeat_penalty" not in sent and "dry_multiplier" not in sent


@pytest.fixture(scope="module")
def engine() -> Iterator[EmbeddedBackend]:
    path = bundled_model_path()
    assert path is not None
    backend = EmbeddedBackend(path, path, n_ctx=512, parallel=1)
    yield backend
    backend.close()


def chain_length(engine: EmbeddedBackend, **options: float) -> int:
    import llama_cpp

    model = engine.model(engine.worker_model)
    request = Request(prompt=[1], max_tokens=1, temperature=0.7, top_p=0.9, seed=1,
                      repetition=embedded_sampling(options))
    sampler = model._sampler(request)
    try:
        return llama_cpp.llama_sampler_chain_n(sampler.sampler)
    finally:
        sampler.close()


def test_the_engine_chains_the_penalties_and_dry_before_the_draw(
        engine: EmbeddedBackend) -> None:
    # top-k, top-p, min-p, temperature and the draw; with the defaults penalties and DRY first
    assert chain_length(engine) == 7
    assert chain_length(engine, dry_multiplier=0.0) == 6
    assert chain_length(engine, repeat_penalty=1.0, dry_multiplier=0.0) == 5
    assert chain_length(engine, repeat_penalty=1.0, frequency_penalty=0.5,
                        dry_multiplier=0.0) == 6


def test_the_engine_answers_with_the_penalties_on(engine: EmbeddedBackend) -> None:
    options = {"temperature": 0.0, "num_predict": 40, "seed": 1}
    *deltas, stats = engine.stream_chat(engine.worker_model, MESSAGES, options)
    *plain, _ = engine.stream_chat(engine.worker_model, MESSAGES,
                                   {**options, "repeat_penalty": 1.0, "dry_multiplier": 0.0})
    assert "".join(deltas).strip() and stats.eval_count
    assert "".join(plain).strip()
