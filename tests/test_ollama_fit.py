"""Fitting a council into Ollama's model slots: the runners a round needs, the settings, the
memory they take, and reloads read from stored load durations (council/llm/ollama_fit.py,
ollama_reloads.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from council.config import Settings
from council.db import session_scope
from council.llm.ollama_fit import (
    Loaded,
    ModelFacts,
    RoundShape,
    Speaker,
    fit_server,
    human_size,
    kv_per_token,
    runners_needed,
)
from council.llm.ollama_reloads import ModelUse, keep_alive_seconds, observed_reloads
from council.personas import list_personas
from council.web.fit import planned_command

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SHAPE = RoundShape(top_k=3, max_parallel=4, synth_model="qwen2.5:7b", compare=False,
                   num_ctx=4096)
# qwen2.5's model_info as Ollama's /api/show gives it (the README's worked example)
QWEN_3B = {"general.architecture": "qwen2", "qwen2.block_count": 36,
           "qwen2.attention.head_count": 16, "qwen2.attention.head_count_kv": 2,
           "qwen2.embedding_length": 2048, "qwen2.context_length": 32768}
QWEN_7B = {"general.architecture": "qwen2", "qwen2.block_count": 28,
           "qwen2.attention.head_count": 28, "qwen2.attention.head_count_kv": 4,
           "qwen2.embedding_length": 3584, "qwen2.context_length": 32768}


def prompt_only(*names: str) -> list[Speaker]:
    return [Speaker(name, "qwen2.5:3b") for name in names]


def test_three_merged_personas_and_the_synthesizer_exceed_the_three_ollama_keeps() -> None:
    speakers = [Speaker(name, f"persona-{name.lower()}") for name in ("Poet", "Sage", "Critic")]
    fit = fit_server("http://gpu:11434", runners_needed(speakers, SHAPE, True), SHAPE, {})
    assert fit.needed == 4 and fit.keeps == 3
    assert fit.parallel == 1, "each merged persona gets one request per round"
    assert fit.command == "OLLAMA_MAX_LOADED_MODELS=4 OLLAMA_NUM_PARALLEL=1 ollama serve"
    assert any("needs 4 models on http://gpu:11434" in p and "OLLAMA_MAX_LOADED_MODELS=4" in p
               for p in fit.problems)


def test_prompt_only_personas_share_the_base_and_need_parallel_slots() -> None:
    runners = runners_needed(prompt_only("A", "B", "C", "D"), SHAPE, True)
    assert [(r.model, r.at_once) for r in runners] == [("qwen2.5:3b", 3), ("qwen2.5:7b", 1)]
    fit = fit_server("h", runners, SHAPE, {})
    assert fit.needed == 2 and fit.parallel == 3 and fit.per_round == 2
    assert fit.problems == [(
        "3 requests at once go to qwen2.5:3b; with OLLAMA_NUM_PARALLEL=1 (the default) they "
        "answer one after another. Start Ollama with OLLAMA_NUM_PARALLEL=3.")]


def test_the_workers_at_once_are_capped_by_max_parallel_and_compare_adds_the_solo_answer() -> None:
    shape = RoundShape(top_k=5, max_parallel=2, synth_model="qwen2.5:3b", compare=True,
                       num_ctx=4096)
    (runner,) = runners_needed(prompt_only("A", "B", "C"), shape, True)
    assert runner.at_once == 3, "two workers, and the solo answer beside them"
    (synth,) = runners_needed([], shape, True)
    assert synth.at_once == 2, "the solo answer and the synthesis overlap"


def test_adapter_and_prompt_only_personas_on_one_base_reload_it() -> None:
    speakers = [*prompt_only("A"), Speaker("Poet", "qwen2.5:3b", adapter="persona-poet")]
    runners = runners_needed(speakers, SHAPE, False)
    assert len(runners) == 1 and runners[0].adapter_sets == ("prompt-only", "persona-poet")
    (problem,) = [p for p in fit_server("h", runners, SHAPE, {}).problems if "adapter" in p]
    assert "reloads it at every change" in problem and "No setting avoids this" in problem


def test_memory_is_weights_plus_kv_for_every_slot() -> None:
    runners = runners_needed(prompt_only("A", "B", "C"), SHAPE, True)
    facts = {"qwen2.5:3b": ModelFacts(1_929_912_432, kv_per_token(QWEN_3B), 32768),
             "qwen2.5:7b": ModelFacts(4_683_087_332, kv_per_token(QWEN_7B), 2048)}
    fit = fit_server("h", runners, SHAPE, facts)
    kv_3b = 2 * 36 * 2 * (2048 // 16) * 2 * 4096 * 3
    kv_7b = 2 * 28 * 4 * (3584 // 28) * 2 * 2048 * 3  # a slot never exceeds the trained context
    assert fit.memory.total == 1_929_912_432 + kv_3b + 4_683_087_332 + kv_7b
    assert fit.memory.missing == ()


def test_what_the_server_does_not_know_is_named_not_guessed() -> None:
    runners = runners_needed([Speaker("Poet", "persona-poet")], SHAPE, False)
    fit = fit_server("h", runners, SHAPE, {"persona-poet": ModelFacts(kv_per_token=1000)})
    assert fit.memory.total == 1000 * 4096
    assert fit.memory.missing == ("the weights of persona-poet (not on the server)",)
    assert "not counting the weights of persona-poet" in fit.memory.describe()


def test_kv_per_token_reads_the_shape_ollama_shows() -> None:
    assert kv_per_token(QWEN_3B) == 2 * 36 * 2 * 128 * 2 == 36_864
    assert kv_per_token(QWEN_7B) == 2 * 28 * 4 * 128 * 2 == 57_344
    stated = {**QWEN_3B, "qwen2.attention.key_length": 64, "qwen2.attention.value_length": 96}
    assert kv_per_token(stated) == 36 * 2 * (64 + 96) * 2
    per_layer = {**QWEN_3B, "qwen2.block_count": 3, "qwen2.attention.head_count_kv": [2, 0, 4]}
    assert kv_per_token(per_layer) == 6 * (128 + 128) * 2
    assert kv_per_token({"general.architecture": "qwen2"}) is None


def test_more_loaded_than_the_default_means_the_server_keeps_more() -> None:
    loaded = [Loaded(f"m{i}", 1) for i in range(5)]
    speakers = [Speaker(str(i), f"m{i}") for i in range(4)]
    fit = fit_server("h", runners_needed(speakers, SHAPE, False), SHAPE, {}, loaded)
    assert fit.keeps == 5 and not any("needs" in p for p in fit.problems)


def test_a_load_soon_after_the_model_answered_is_a_reload() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def use(model: str, at_s: float, load_s: float, took_s: float = 5.0) -> ModelUse:
        begun = start + timedelta(seconds=at_s)
        return ModelUse(model, begun, begun + timedelta(seconds=took_s), load_s)

    uses = [use("a", 0, 3.0), use("a", 0.1, 2.9),  # the first load, two requests waiting on it
            use("a", 60, 2.5),  # loaded again within keep-alive: evicted
            use("a", 120, 0.001),  # it was loaded
            use("b", 0, 3.0), use("b", 2000, 3.0)]  # after keep-alive: expected
    assert observed_reloads(uses, keep_alive_s=600) == [("a", 1)]


def test_keep_alive_reads_as_ollama_reads_it() -> None:
    assert keep_alive_seconds("10m") == 600
    assert keep_alive_seconds("1h30m") == 5400
    assert keep_alive_seconds("90") == 90
    assert keep_alive_seconds("-1") == math.inf and keep_alive_seconds("-1m") == math.inf
    assert keep_alive_seconds("soon") == 300, "Ollama's default for what it cannot parse"


def test_the_readme_worked_example_is_what_the_code_computes() -> None:
    """3B workers and a 7B synthesizer at num_ctx 4096 with three personas speaking."""
    facts = {"qwen2.5:3b": ModelFacts(1_900_000_000, kv_per_token(QWEN_3B), 32768),
             "qwen2.5:7b": ModelFacts(4_700_000_000, kv_per_token(QWEN_7B), 32768)}
    prompt = fit_server("h", runners_needed(prompt_only("A", "B", "C"), SHAPE, True), SHAPE,
                        facts)
    merged = [Speaker(n, f"persona-{n}") for n in ("a", "b", "c")]
    facts.update({s.runner: facts["qwen2.5:3b"] for s in merged})
    apart = fit_server("h", runners_needed(merged, SHAPE, True), SHAPE, facts)
    for fit in (prompt, apart):
        assert fit.command in README
        assert f"≈ {human_size(fit.memory.total)}" in README


def test_the_command_for_a_first_ollama_counts_the_personas_as_prompt_only() -> None:
    """What the Status page tells an embedded-engine user to start Ollama with."""
    command = planned_command(Settings(router_top_k=3), ["A", "B", "C", "D"])
    assert command == "OLLAMA_MAX_LOADED_MODELS=2 OLLAMA_NUM_PARALLEL=3 ollama serve"


def test_the_training_plan_says_how_registering_changes_the_count(app, demo_server) -> None:
    """On a server reported to refuse adapter models either outcome may happen: the plan says
    what each does to the models a round needs there."""
    demo_server.version = "0.34.1"
    plan = app.test_client().get("/api/training").get_json()["serve_plan"]
    with session_scope(app) as session:
        persona, *others = list_personas(session)
        name, slug, other = persona.name, persona.slug, others[0].name
    said = plan["fit"][slug]
    assert f"On {demo_server.url} a round needs 2 model(s) now." in said
    assert f"As a merged model, {name} adds a model: 3, within the 3 Ollama keeps" in said
    assert f"As an adapter model, {name} keeps the count: 2" in said
    assert "qwen2.5:3b's runner with" in said and other in said and "reloads that runner" in said
