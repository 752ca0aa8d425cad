"""Hostile inputs, in ONE list of families, fed to every upload format (tests/hostile/test_exports.py).

A family is JSON text (bytes, so nesting 100,000 deep needs no recursion to write) plus what
the app must do with it. Small on disk, each would cost gigabytes or minutes without a bound.
A new upload format is covered by adding it to `UPLOAD_FORMATS`; a new family by adding it to
`FAMILIES`.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOOD_TEXT = "What is a good name for a grey cat?"
PLACEHOLDER = "@@HOSTILE@@"
PLACES = ("message", "conversation", "export")
"""Where a family's value goes: as user messages' text, beside a conversation's keys (a list
of `repeat` values), or as `repeat` items of the export's top-level list."""


@dataclass(frozen=True)
class Family:
    name: str
    value: bytes  # one JSON value
    refused_by: str | None = None  # refused: the error names this setting and says raise it
    refused_with: str | None = None  # refused: the error explains with these words
    repeat: int = 1
    places: tuple[str, ...] = PLACES
    env: dict[str, str] = field(default_factory=dict)  # limits lowered to keep inputs small


def _string(body: bytes) -> bytes:
    return b'"' + body + b'"'


FAMILIES = [
    Family("deep lists", b"[" * 100_000 + b"]" * 100_000, "COUNCIL_MAX_EXPORT_DEPTH"),
    Family("deep objects", b'{"a":' * 50_000 + b"0" + b"}" * 50_000, "COUNCIL_MAX_EXPORT_DEPTH"),
    Family("huge string", _string(b"x" * (5 * 1024 * 1024)), "COUNCIL_MAX_CONVERSATION_MB",
           env={"COUNCIL_MAX_CONVERSATION_MB": "2"}),
    Family("huge key", b"{" + _string(b"k" * (5 * 1024 * 1024)) + b": 1}",
           "COUNCIL_MAX_CONVERSATION_MB", env={"COUNCIL_MAX_CONVERSATION_MB": "2"}),
    Family("long string", _string(b"y" * (1536 * 1024))),  # a message over 1 MiB is skipped
    Family("huge list", b"[" + b"0," * 150_000 + b"0]", "COUNCIL_MAX_CONVERSATION_VALUES",
           env={"COUNCIL_MAX_CONVERSATION_VALUES": "100000"}),
    Family("many messages", _string(b"hi"), "COUNCIL_MAX_MESSAGES", repeat=3000,
           places=("message",), env={"COUNCIL_MAX_MESSAGES": "2000"}),
    Family("many foreign items", b"0", repeat=200_000, places=("export",)),
    Family("wrong types", b'{"mapping": 7, "chat_messages": "x", "conversations": {"a": null},'
                          b' "parts": [1.5, true], "content": -0.0, "from": []}'),
    Family("big numbers", b"[1e308, -1e-308, 9007199254740993, 1" + b"0" * 18 + b"]"),
    Family("number beyond 64 bits", b"1" + b"0" * 30,
           refused_with="holds a whole number beyond 64 bits"),
    Family("number beyond floats", b"1e999", refused_with="beyond the largest float"),
    Family("lone high surrogate", _string(rb"a\ud800b")),
    Family("lone low surrogate", _string(rb"a\udc00b")),
    Family("surrogate pair", _string(rb"\ud83d\ude00")),
    Family("NUL characters", _string(rb"a\u0000b" + b"\x7f")),
    Family("byte-order marks inside", _string(b"\xef\xbb\xbfa\xef\xbb\xbf")),
    Family("overlong UTF-8", _string(b"\xc0\xaf"), refused_with="is not valid UTF-8"),
    Family("encoded surrogate", _string(b"\xed\xa0\x80"), refused_with="is not valid UTF-8"),
]


def _chatgpt(cid: str, texts: list[str]) -> dict[str, Any]:
    mapping: dict[str, Any] = {"root": {"message": None, "parent": None, "children": ["u0"]}}
    parent = "root"
    for i, text in enumerate(texts):
        for role, key, body in (("user", f"u{i}", text), ("assistant", f"a{i}", "ok")):
            mapping[key] = {"parent": parent, "children": [], "message": {
                "author": {"role": role}, "create_time": 1.0 + i,
                "content": {"content_type": "text", "parts": [body]}}}
            mapping[parent]["children"] = [key]
            parent = key
    return {"id": cid, "title": cid, "mapping": mapping, "current_node": parent}


def _claude(cid: str, texts: list[str]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for text in texts:
        messages += [{"sender": "human", "content": [{"type": "text", "text": text}]},
                     {"sender": "assistant", "text": "ok"}]
    return {"uuid": cid, "name": cid, "chat_messages": messages}


def _sharegpt(cid: str, texts: list[str]) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    for text in texts:
        turns += [{"from": "human", "value": text}, {"from": "gpt", "value": "ok"}]
    return {"id": cid, "conversations": turns}


UPLOAD_FORMATS: dict[str, Callable[[str, list[str]], dict[str, Any]]] = {
    "chatgpt": _chatgpt, "claude": _claude, "sharegpt": _sharegpt}
"""Each upload format: a conversation of that format whose user messages say `texts`."""
CONTAINERS = ("json", "zip")


def export_bytes(fmt: str, family: Family, place: str) -> bytes:
    """A good conversation, then the family's value at `place`, as the format's export."""
    conversation = UPLOAD_FORMATS[fmt]
    good = json.dumps(conversation("good", [GOOD_TEXT])).encode()
    hole = json.dumps(PLACEHOLDER).encode()
    if place == "message":
        hostile = json.dumps(conversation("hostile", [PLACEHOLDER] * family.repeat)).encode()
        return b"[" + good + b", " + hostile.replace(hole, family.value) + b"]"
    if place == "conversation":
        body = {**conversation("hostile", ["a question"]), "extra": PLACEHOLDER}
        values = b"[" + b", ".join([family.value] * family.repeat) + b"]"
        return b"[" + good + b", " + json.dumps(body).encode().replace(hole, values) + b"]"
    return b"[" + good + b", " + b", ".join([family.value] * family.repeat) + b"]"


def write_export(path: Path, data: bytes, container: str) -> Path:
    """`data` as a raw .json, or as conversations.json inside a ChatGPT-style .zip."""
    if container == "json":
        path = path.with_suffix(".json")
        path.write_bytes(data)
        return path
    path = path.with_suffix(".zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", data)
    return path
