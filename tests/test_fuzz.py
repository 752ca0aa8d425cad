"""Property-based tests: whatever arrives, the parsers, categoriser and router either answer or
raise their documented, explained error; nothing else escapes."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from council.db import session_scope
from council.discovery.extract import extract_messages
from council.discovery.json_stream import DEFAULT_LIMITS
from council.discovery.parse import ExportError, parse_export
from council.extensions import get_router
from council.features.traits import (
    QUESTION_TYPES,
    REASONING_MARKERS,
    TONES,
    TOPICS,
    MessageTraits,
    categorize,
)
from council.personas import list_personas
from tests.exports import REALAZTHAT

# The two problems an export error may state without naming the file: both are about bytes
# or items inside it, and say where.
FILE_LESS_PROBLEMS = ("The export is not valid UTF-8: bad byte at offset",
                      "Unknown export format (first conversation has:")
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
            message = str(exc)
            assert path.name in message or message.startswith(FILE_LESS_PROBLEMS), message
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
    data = REALAZTHAT.read_bytes()
    parses_or_explains(data[:int(len(data) * share)])


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
       st.sampled_from(["human", "user", "gpt", "system"]))
def test_sharegpt_with_any_unicode(text: str, speaker: str) -> None:
    document = [{"id": "c_0", "conversations": [{"from": speaker, "value": text},
                                                 {"from": "gpt", "value": text[::-1]}]}]
    parses_or_explains(json.dumps(document, ensure_ascii=False).encode("utf-8"))


def json_text(text: str) -> str:
    """What a JSON reader makes of `text` escaped by json.dumps: pairs joined, lone surrogates
    (json.dumps escapes them) as U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@FUZZ
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=200))
def test_sharegpt_with_any_escaped_text_even_lone_surrogates(text: str) -> None:
    document = [{"id": "c_0", "conversations": [{"from": "human", "value": text}]}]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(json.dumps(document), encoding="ascii")
        expected = json_text(text).strip()
        if not expected:
            with pytest.raises(ExportError, match="no messages written by the user"):
                parse_export(path)
            return
        assert [m.text for m in parse_export(path).messages] == [expected]


# ijson's C parser refuses whole numbers beyond 64 bits (an explained ExportError, tested above)
values_within_64_bits = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=20)


@FUZZ
@given(st.integers(min_value=0, max_value=200), values_within_64_bits)
def test_any_nesting_parses_or_names_the_depth_limit(depth: int, inner: object) -> None:
    """A value `depth` lists deep beside the user's question: fine within the limit (the
    conversation sits at depth 2 of the export), refused with the setting's name beyond it."""
    nested = "[" * depth + json.dumps(inner) + "]" * depth
    body = json.dumps([{"conversations": [{"from": "human", "value": "hi"}], "x": None}])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(body.replace("null", nested), encoding="utf-8")
        if depth + _depth(inner) <= DEFAULT_LIMITS.max_export_depth - 2:
            assert [m.text for m in parse_export(path).messages] == ["hi"]
            return
        with pytest.raises(ExportError, match="raise COUNCIL_MAX_EXPORT_DEPTH"):
            parse_export(path)


def _depth(value: object) -> int:
    if not isinstance(value, (dict, list)):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(child) for child in children), default=0)


def length_bucket(text: str) -> str:
    """The documented rule, counted independently: < 15 words short, < 80 medium, else long."""
    words = len(text.split())
    return "short" if words < 15 else "medium" if words < 80 else "long"


@FUZZ
@given(st.text(max_size=2000))
def test_categorise_any_text(text: str) -> None:
    traits = categorize(text)
    assert traits.topic in TOPICS and traits.tone in TONES
    assert traits.length == length_bucket(text)
    assert traits.reasoning_markers == [m for m in REASONING_MARKERS
                                        if m in traits.reasoning_markers], "documented order"
    assert set(traits.question_types) <= set(QUESTION_TYPES)
    assert len(set(traits.question_types)) == len(traits.question_types)
    if "```" in text or "~~~" in text:
        assert traits.has_code
    if traits.has_code:
        assert traits.tone == "technical", "code comes first in the tone's precedence"
    if not text.strip():
        assert traits == MessageTraits("other", "casual", [], [], "short", False)


@FUZZ
@given(st.text(max_size=300), st.text(max_size=300), st.sampled_from(["```", "~~~"]))
def test_any_fenced_block_is_code(prose: str, code: str, fence: str) -> None:
    traits = categorize(f"{prose}\n{fence}python\n{code}\n{fence}\n{prose}")
    assert traits.has_code and traits.tone == "technical"


def test_categorise_a_huge_message() -> None:
    """A megabyte of one word, then code: the labels come from the first ANALYSIS_CHARS (so
    the code far past them does not count), the length from every word."""
    text = ("word " * 200_000) + "```python\nprint(1)\n```" + ("\u0000\ud7ff" * 1000)
    assert categorize(text) == MessageTraits(topic="other", tone="casual", reasoning_markers=[],
                                             question_types=[], length="long", has_code=False)


@FUZZ
@given(st.text(max_size=500))
def test_route_any_text(app: Flask, text: str) -> None:
    router = get_router(app)
    with session_scope(app) as session:
        personas = list_personas(session)
        route = router.route(session, personas, text or " ", {})
        assert route.selected
        assert all(math.isfinite(d.weight) and 0.0 <= d.weight <= 1.0 for d in route.selected)
