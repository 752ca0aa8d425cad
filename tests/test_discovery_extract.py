"""Extraction on a real export: every user message kept on disk, filler and repeats set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from council.discovery.categorize import dedupe_key, is_filler
from council.discovery.extract import extract_messages, load_previous, write_extraction
from council.discovery.parse import parse_export
from council.files import PersonaFiles
from tests.exports import PKUPPENS


def test_extraction_of_a_real_export(tmp_path: Path) -> None:
    parsed = parse_export(PKUPPENS)
    extraction = extract_messages(parsed)
    assert len(extraction.messages) == len(parsed.messages) == 645
    counts = extraction.set_aside_counts()
    assert len(extraction.kept) + sum(counts.values()) == 645
    kept_keys = [dedupe_key(m.message.text) for m in extraction.kept]
    assert len(kept_keys) == len(set(kept_keys)), "no repeat survives"
    duplicates = [m for m in extraction.messages if m.set_aside == "duplicate"]
    assert all(dedupe_key(m.message.text) in kept_keys for m in duplicates)
    assert all(is_filler(m.message.text) == (m.set_aside == "filler")
               for m in extraction.messages)

    files = PersonaFiles(tmp_path)
    write_extraction(extraction, files)
    all_path, categorized_path = files.all_messages, files.categorized_messages
    rows = [json.loads(line) for line in categorized_path.read_text().splitlines()]
    assert len(rows) == 645 and len(all_path.read_text().splitlines()) == 645
    assert {"topic", "tone", "question_types", "length", "has_code"} <= set(rows[0]["categories"])
    assert {r["set_aside"] for r in rows} <= {None, "filler", "duplicate"}
    assert not list((tmp_path / "extracted").glob(".*.tmp")), "no temp files left behind"


def test_repeats_and_filler_are_set_aside(tmp_path: Path) -> None:
    export = tmp_path / "sharegpt.json"
    turns = ["How do I read a CSV file in Python?", "thanks", "how do I read a CSV file in python",
             "continue", "Why is my pandas merge producing duplicate rows?"]
    export.write_text(json.dumps([{"id": str(i), "conversations": [
        {"from": "human", "value": text}, {"from": "gpt", "value": "ok"}]}
        for i, text in enumerate(turns)]))
    extraction = extract_messages(parse_export(export))
    assert [m.set_aside for m in extraction.messages] == [None, "filler", "duplicate", "filler",
                                                          None]
    assert extraction.set_aside_counts() == {"filler": 2, "duplicate": 1}


def test_a_rerun_reuses_earlier_categories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parse_export(PKUPPENS)
    first = extract_messages(parsed)
    write_extraction(first, PersonaFiles(tmp_path))
    categorized = PersonaFiles(tmp_path).categorized_messages
    known = load_previous(categorized)
    assert len(known) == len({m.id for m in first.messages})

    import council.discovery.extract as extract_module

    def must_not_run(text: str) -> None:
        raise AssertionError("categorised again")

    monkeypatch.setattr(extract_module, "categorize", must_not_run)
    again = extract_messages(parsed, known)
    assert [m.row() for m in again.messages] == [m.row() for m in first.messages]
    categorized.write_text("{not json\n")
    assert load_previous(categorized) == {}
