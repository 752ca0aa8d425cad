"""The file layout (council/files.py): the paths DESIGN.md promises, and readers that say what
to run when discovery or training has not happened yet."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from council.errors import NotFound
from council.files import (
    STALE_UPLOAD_S,
    UPLOAD_PREFIX,
    AdapterFiles,
    MissingDiscovery,
    PersonaFiles,
)


def test_the_layout_is_the_documented_one(tmp_path: Path) -> None:
    files = PersonaFiles.in_data_dir(tmp_path)
    relative = {name: str(path.relative_to(tmp_path)) for name, path in {
        "export": files.default_export, "all": files.all_messages,
        "categorized": files.categorized_messages, "cluster": files.cluster_messages("skeptic"),
        "analysis": files.cluster_analysis, "prompts": files.generated_prompts,
        "train": files.training_pairs("skeptic")[0]}.items()}
    assert relative == {
        "export": "personas/raw_imports/conversations.json",
        "all": "personas/extracted/all_messages.jsonl",
        "categorized": "personas/extracted/categorized_messages.jsonl",
        "cluster": "personas/clusters/persona_skeptic.jsonl",
        "analysis": "personas/clusters/cluster_analysis.json",
        "prompts": "personas/prompts/generated_prompts.json",
        "train": "personas/lora_training/persona_skeptic_train.jsonl"}
    assert [p.name for p in files.training_pairs("a")] == [
        "persona_a_train.jsonl", "persona_a_eval.jsonl", "persona_a_pairs.jsonl"]
    adapter = AdapterFiles(tmp_path / "loras", "skeptic")
    assert [str(p.relative_to(tmp_path)) for p in (adapter.adapter, adapter.gguf,
                                                   adapter.metadata, adapter.checkpoint(7))] == [
        "loras/skeptic/adapter", "loras/skeptic/adapter.gguf", "loras/skeptic/metadata.json",
        "loras/skeptic/checkpoint-7"]


def test_reading_a_discovery_that_has_not_run_names_the_missing_file(tmp_path: Path) -> None:
    files = PersonaFiles(tmp_path)
    assert not files.has_discovery()
    with pytest.raises(MissingDiscovery) as missing:
        files.read_discovery()
    assert isinstance(missing.value, NotFound), "the web layer answers it with 404"
    assert str(files.generated_prompts) in str(missing.value)
    assert "Discover page" in str(missing.value)

    files.generated_prompts.parent.mkdir(parents=True)
    files.generated_prompts.write_text(json.dumps({"personas": [{"slug": "a"}]}))
    with pytest.raises(MissingDiscovery, match="cluster_analysis.json is missing"):
        files.read_discovery()
    files.clusters.mkdir()
    files.cluster_analysis.write_text(json.dumps({"k": 1, "clusters": [{"slug": "a"}]}))
    assert files.has_discovery()
    assert files.read_discovery() == ([{"slug": "a"}], {"k": 1, "clusters": [{"slug": "a"}]})
    assert files.read_map() == {"points": [], "total": 0, "explained_variance": []}, \
        "results from before the map was written show an empty map"


def test_cluster_rows_skip_blank_lines_and_a_missing_cluster(tmp_path: Path) -> None:
    files = PersonaFiles(tmp_path)
    assert list(files.cluster_rows("nobody")) == []
    files.clusters.mkdir()
    files.cluster_messages("a").write_text('{"text": "one"}\n\n{"text": "two"}\n')
    assert [row["text"] for row in files.cluster_rows("a")] == ["one", "two"]


def test_adapter_metadata_round_trips_and_is_none_before_training(tmp_path: Path) -> None:
    adapter = AdapterFiles(tmp_path, "architect")
    assert adapter.read_metadata() is None
    adapter.write_metadata({"state": "done", "steps": 3})
    assert adapter.read_metadata() == {"state": "done", "steps": 3}
    assert [p.name for p in adapter.folder.iterdir()] == ["metadata.json"], "no temp file left"


def test_clean_uploads_removes_stale_halves_and_keeps_the_newest_and_those_in_use(
        tmp_path: Path) -> None:
    files = PersonaFiles.in_data_dir(tmp_path)
    assert files.clean_uploads(keep=2) == [], "no raw_imports yet: nothing to do"
    files.raw_imports.mkdir(parents=True)
    now = time.time()
    ages = {"oldest.json": 5000, "in-use.json": 4000, "older.json": 3000, "newer.json": 20,
            "newest.zip": 10, f"{UPLOAD_PREFIX}stale": STALE_UPLOAD_S + 60,
            f"{UPLOAD_PREFIX}receiving": 5}
    for name, age in ages.items():
        (files.raw_imports / name).write_bytes(b"x")
        os.utime(files.raw_imports / name, (now - age, now - age))
    removed = files.clean_uploads(keep=2, in_use={"in-use.json"})
    assert sorted(removed) == sorted([f"{UPLOAD_PREFIX}stale", "oldest.json", "older.json"])
    assert sorted(p.name for p in files.raw_imports.iterdir()) == sorted(
        [f"{UPLOAD_PREFIX}receiving", "in-use.json", "newer.json", "newest.zip"])
