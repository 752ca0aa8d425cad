"""Every family of tests/hostile.py, at every place, in every upload format and container, costs
bounded memory and time and ends in messages or an ExportError that says what to do (issue 15).

A new upload format is covered by adding it to `UPLOAD_FORMATS`; a new family in
tests/hostile.py fails `test_every_family_has_an_expectation` until `EXPECTED` says what an
export holding it must come to.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from council.config import PROJECT_ROOT
from tests.exports import write_sharegpt_export
from tests.hostile import BODIES
from tests.jobs import upload, wait_for_job

PEAK_MB = 250  # the parser's process, imports included; nesting 100,000 deep took 3.6 GB
JOB_PEAK_MB = 300  # the whole discover command, imports included
SECONDS = 20.0  # per export, generous: a 256 MB string took 137 s
WARNING_CHARS = 4000  # 200,000 warnings once made a 15 MB job message
MESSAGE_CHARS = 2000
GOOD_TEXT = "What is a good name for a grey cat?"
PLACEHOLDER = "@@HOSTILE@@"
PLACES = ("message", "conversation", "export")
"""Where a family's value goes: as a user message's text, beside a conversation's keys, or as
an item of the export's top-level list; always after a good conversation."""
CONTAINERS = ("json", "zip")


@dataclass(frozen=True)
class Expected:
    refused_by: str | None = None  # refused: the error names this setting and says raise it
    refused_with: str | None = None  # refused: the error explains with these words
    env: dict[str, str] = field(default_factory=dict)  # limits lowered to keep inputs small


PARSES = Expected()
NOT_JSON = Expected(refused_with="is not valid JSON")
NOT_UTF8 = Expected(refused_with="is not valid UTF-8")
EXPECTED = {
    "deep list": Expected("COUNCIL_MAX_EXPORT_DEPTH"),
    "deep object": Expected("COUNCIL_MAX_EXPORT_DEPTH"),
    "nested past the limit": PARSES,  # 41 levels: past a JSON body's 32, within an export's 64
    "huge string": Expected("COUNCIL_MAX_CONVERSATION_MB",
                            env={"COUNCIL_MAX_CONVERSATION_MB": "2"}),
    "huge count": Expected("COUNCIL_MAX_CONVERSATION_VALUES",
                           env={"COUNCIL_MAX_CONVERSATION_VALUES": "100000"}),
    "huge key count": Expected("COUNCIL_MAX_CONVERSATION_VALUES",
                               env={"COUNCIL_MAX_CONVERSATION_VALUES": "50000"}),
    "top-level list": PARSES,
    "top-level string": PARSES,
    "top-level number": PARSES,
    "top-level null": PARSES,
    "infinite": Expected(refused_with="a number beyond the largest float"),
    "NaN": NOT_JSON,
    "beyond 64 bits": Expected(refused_with="a whole number beyond 64 bits"),
    "4300 digits": Expected(refused_with="a whole number beyond 64 bits"),
    "lone surrogate": PARSES,  # as U+FFFD
    "NUL": PARSES,
    "byte-order mark": NOT_JSON,  # inside a document it is a stray character
    "overlong UTF-8": NOT_UTF8,
    "invalid UTF-8": NOT_UTF8,
    "not JSON": NOT_JSON,
}


def _chatgpt(cid: str, text: str) -> dict[str, Any]:
    message = {"author": {"role": "user"}, "create_time": 1.0,
               "content": {"content_type": "text", "parts": [text]}}
    return {"id": cid, "title": cid, "current_node": "u", "mapping": {
        "root": {"message": None, "parent": None, "children": ["u"]},
        "u": {"message": message, "parent": "root", "children": []}}}


def _claude(cid: str, text: str) -> dict[str, Any]:
    return {"uuid": cid, "name": cid, "chat_messages": [
        {"sender": "human", "content": [{"type": "text", "text": text}]},
        {"sender": "assistant", "text": "ok"}]}


def _sharegpt(cid: str, text: str) -> dict[str, Any]:
    return {"id": cid, "conversations": [{"from": "human", "value": text},
                                         {"from": "gpt", "value": "ok"}]}


UPLOAD_FORMATS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "chatgpt": _chatgpt, "claude": _claude, "sharegpt": _sharegpt}
"""Each upload format: a conversation of that format whose user message says `text`."""
CASES = [(name, fmt, place, container) for name, _ in BODIES for fmt in UPLOAD_FORMATS
         for place in PLACES for container in CONTAINERS]


def export_bytes(fmt: str, value: bytes, place: str) -> bytes:
    """A good conversation, then the JSON text `value` at `place`, as the format's export."""
    conversation = UPLOAD_FORMATS[fmt]
    good = json.dumps(conversation("good", GOOD_TEXT)).encode()
    hole = json.dumps(PLACEHOLDER).encode()
    if place == "message":
        hostile = json.dumps(conversation("hostile", PLACEHOLDER)).encode()
    elif place == "conversation":
        hostile = json.dumps({**conversation("hostile", "a question"), "extra": PLACEHOLDER})
        hostile = hostile.encode()
    else:
        hostile = hole
    return b"[" + good + b", " + hostile.replace(hole, value) + b"]"


def write_export(path: Path, data: bytes, container: str) -> Path:
    """`data` as a raw .json, or as conversations.json inside a ChatGPT-style .zip."""
    if container == "json":
        path.with_suffix(".json").write_bytes(data)
        return path.with_suffix(".json")
    with zipfile.ZipFile(path.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", data)
    return path.with_suffix(".zip")


def case_id(case: tuple[str, str, str, str]) -> str:
    return ":".join((case[0].replace(" ", "-"), *case[1:]))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case parsed in one subprocess (tests/hostile_measure.py), keyed by case id."""
    folder = tmp_path_factory.mktemp("hostile")
    bodies = dict(BODIES)
    jobs, ids = [], {}
    for case in CASES:
        name, fmt, place, container = case
        path = write_export(folder / case_id(case).replace(":", "_"),
                            export_bytes(fmt, bodies[name], place), container)
        jobs.append({"path": str(path), "env": EXPECTED[name].env})
        ids[str(path)] = case_id(case)
    done = subprocess.run([sys.executable, "-m", "tests.hostile_measure"], cwd=PROJECT_ROOT,
                          input=json.dumps(jobs), capture_output=True, text=True, timeout=300,
                          check=True)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    return {ids[answer["path"]]: answer for answer in answers}


def test_every_family_has_an_expectation() -> None:
    assert set(EXPECTED) == {name for name, _ in BODIES}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hostile_export_is_bounded(case: tuple[str, str, str, str],
                                   outcomes: dict[str, dict[str, Any]]) -> None:
    expected = EXPECTED[case[0]]
    answer = outcomes[case_id(case)]
    assert answer["outcome"] != "crashed", answer["error"]
    assert answer["peak_mb"] < PEAK_MB, answer
    assert answer["seconds"] < SECONDS, answer
    if expected.refused_by:
        assert answer["outcome"] == "refused", answer
        assert f"{expected.refused_by}=" in answer["error"], answer["error"]
        assert f"raise {expected.refused_by}" in answer["error"], answer["error"]
    elif expected.refused_with:
        assert answer["outcome"] == "refused", answer
        assert expected.refused_with in answer["error"], answer["error"]
    else:
        assert answer["outcome"] == "parsed", answer
        assert GOOD_TEXT in answer["messages"], answer
        assert len("\n".join(answer["warnings"])) < WARNING_CHARS, answer["warnings"]


def test_nested_zip_discovery_stays_small_and_names_the_limit(tmp_path: Path) -> None:
    """The discover command as its own process; it reports its own VmHWM (tests/peak_of.py)."""
    export = write_export(tmp_path / "export", export_bytes(
        "chatgpt", dict(BODIES)["deep list"], "message"), "zip")
    assert export.stat().st_size < 2048, "a tiny zip: the cost is all in the unpacking"
    report = tmp_path / "peak_mb"
    done = subprocess.run(
        [sys.executable, "-m", "tests.peak_of", str(report), "council", "discover",
         "--input", str(export), "--data-dir", str(tmp_path / "data"), "--progress", "json",
         "--no-llm"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert float(report.read_text(encoding="utf-8")) < JOB_PEAK_MB, report.read_text()
    assert "error: export.zip nests lists or objects more than 64 levels deep" in done.stderr
    assert "raise COUNCIL_MAX_EXPORT_DEPTH" in done.stderr


def test_a_flood_of_warnings_leaves_a_short_job_message(app: Flask, tmp_path: Path) -> None:
    """200,000 items that are not conversations, through the Discover page's job."""
    good = tmp_path / "good.json"
    write_sharegpt_export(good)
    items = good.read_bytes().rstrip()[:-1] + b", " + b", ".join([b"0"] * 200_000) + b"]"
    client = app.test_client()
    name = upload(client, items, "flood.json").get_json()["upload"]
    job_id = client.post("/api/discover/run", json={"upload": name, "clusters": 3,
                                                    "balance": 0}).get_json()["job_id"]
    final = wait_for_job(client, job_id)[-1]
    assert final["state"] == "done", final
    assert len(final["message"]) < MESSAGE_CHARS, len(final["message"])
    assert final["message"].startswith("Item 64 (after conversation 63) is not a sharegpt")
    assert "… and 199,995 more like this." in final["message"].splitlines()
    assert len(json.dumps(client.get(f"/api/jobs/{job_id}").get_json())) < 2 * MESSAGE_CHARS
