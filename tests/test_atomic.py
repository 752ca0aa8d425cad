"""Whole-or-nothing writes (council/atomic.py): a reader sees the old file or the new one, never
half of one, and a failed write leaves no temp file behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from council.atomic import (
    write_json_atomic,
    write_jsonl_atomic,
    write_lines_atomic,
    write_text_atomic,
)


def test_json_round_trip_keeps_unicode_readable(tmp_path: Path) -> None:
    target = tmp_path / "prompts.json"
    data = {"name": "Café Critic", "emoji": "🙂", "sizes": [21, 21, 21], "none": None}
    write_json_atomic(target, data)
    text = target.read_text(encoding="utf-8")
    assert json.loads(text) == data
    assert "Café Critic" in text and "🙂" in text, "written as UTF-8, not \\u escapes"
    assert text.endswith("}\n")


def test_jsonl_round_trip_one_row_a_line(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    rows = [{"text": "first\nline", "n": 1}, {"text": "zweite Zeile: ä", "n": 2}, {}]
    write_jsonl_atomic(target, iter(rows))
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows
    write_jsonl_atomic(target, [])
    assert target.read_text() == "", "no rows is an empty file"


def test_parent_folders_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "out.txt"
    write_text_atomic(target, "deep")
    assert target.read_text() == "deep"


def test_a_shorter_file_replaces_a_longer_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "a long first version\n" * 100)
    write_lines_atomic(target, ["short", "\n"])
    assert target.read_text() == "short\n"


def test_until_the_write_completes_the_old_file_is_what_is_there(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")
    seen_while_writing: list[tuple[str, list[str]]] = []

    def chunks() -> Iterator[str]:
        yield "new "
        seen_while_writing.append((target.read_text(),
                                   sorted(p.name for p in tmp_path.iterdir())))
        yield "content"

    write_lines_atomic(target, chunks())
    (old, names), = seen_while_writing
    assert old == "old"
    staged = [name for name in names if name != "out.json"]
    assert len(staged) == 1 and staged[0].startswith(".out.json.") and staged[0].endswith(".tmp")
    assert target.read_text() == "new content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"], "the temp file became it"


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()],
                         ids=["error", "interrupt"])
def test_a_write_failing_midway_keeps_the_old_file(tmp_path: Path,
                                                   failure: BaseException) -> None:
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")

    def broken_rows() -> Iterator[dict[str, int]]:
        yield {"fine": 1}
        raise failure

    with pytest.raises(type(failure)):
        write_jsonl_atomic(target, broken_rows())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"], "no temp file left behind"


def test_a_row_that_is_not_json_fails_the_write_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.jsonl"
    with pytest.raises(TypeError):
        write_jsonl_atomic(target, [{"fine": 1}, {"bad": object()}])
    assert list(tmp_path.iterdir()) == [], "no file where there was none, and no temp file"
