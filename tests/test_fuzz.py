"""Property-based tests: whatever arrives, the parsers, categoriser and router either answer or
raise their documented, explained error; nothing else escapes."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from council.db import session_scope
from council.discovery.categorize import categorize
from council.discovery.extract import extract_messages
from council.discovery.parse import ExportError, parse_export
from council.personas import list_personas
from council.router import get_router

FIXTURE = (Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "chatgpt-exports"
           / "chatgpt_realazthat_code_interpreter_conversations.json")
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(["mapping", "current_node", "message", "author", "role",
                                       "content", "parts", "conversations", "from", "value",
                                       "chat_messages", "sender", "text", "children",
                                       "parent", "id", "title", "create_time", "metadata",
                                       "content_type", "name", "uuid"]) | st.text(max_size=8),
                      children, max_size=6),
    max_leaves=30)


def parses_or_explains(data: bytes, suffix: str = ".json") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export{suffix}"
        path.write_bytes(data)
        try:
            result = parse_export(path)
        except ExportError as exc:
            assert str(exc) and path.name in str(exc) or "export" in str(exc).lower()
            return
        assert result.format and result.messages
        for message in result.messages:
            assert isinstance(message.text, str) and message.text
        extract_messages(result)


@FUZZ
@given(json_values)
def test_any_json_document(document: object) -> None:
    parses_or_explains(json.dumps(document).encode())


@FUZZ
@given(st.lists(json_values, min_size=1, max_size=4))
def test_any_list_of_conversations(conversations: list) -> None:
    parses_or_explains(json.dumps(conversations).encode())


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_even_as_a_zip(data: bytes) -> None:
    parses_or_explains(data)
    parses_or_explains(data, ".zip")


@FUZZ
@given(st.floats(min_value=0.0, max_value=1.0))
def test_a_real_export_cut_anywhere(share: float) -> None:
    data = FIXTURE.read_bytes()
    parses_or_explains(data[:int(len(data) * share)])


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
       st.sampled_from(["human", "user", "gpt", "system"]))
def test_sharegpt_with_any_unicode(text: str, speaker: str) -> None:
    document = [{"id": "c_0", "conversations": [{"from": speaker, "value": text},
                                                 {"from": "gpt", "value": text[::-1]}]}]
    parses_or_explains(json.dumps(document, ensure_ascii=False).encode("utf-8"))


@FUZZ
@given(st.text(max_size=2000))
def test_categorise_any_text(text: str) -> None:
    categories = categorize(text)
    assert categories is not None


def test_categorise_a_huge_message() -> None:
    text = ("word " * 200_000) + "```python\nprint(1)\n```" + ("\u0000\ud7ff" * 1000)
    assert categorize(text) is not None


@FUZZ
@given(st.text(max_size=500))
def test_route_any_text(app: Flask, text: str) -> None:
    router = get_router(app)
    with session_scope(app) as session:
        personas = list_personas(session)
        route = router.route(session, personas, text or " ", {})
        assert route.selected
        assert all(math.isfinite(d.weight) and 0.0 <= d.weight <= 1.0 for d in route.selected)
