"""Tests for the first stage of persona discovery: streaming a chat export into user messages."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from council.config import Settings
from council.discovery.json_stream import DEFAULT_LIMITS, ExportReader
from council.discovery.parse import (
    ExportError,
    ExportLimits,
    ParseResult,
    detect_format,
    parse_export,
)
from council.discovery.pipeline import DiscoveryOptions, run_discovery
from council.embeddings import Embedder
from tests.exports import IMAGE_GEN, PKUPPENS, REALAZTHAT, THINKING

# Expected user-message counts on the active branch. Determined independently of the parser
# with a throwaway script using json.load: walk each conversation from current_node up through
# `parent` to the root, and count messages with author.role == "user", content_type text or
# multimodal_text, not is_visually_hidden_from_conversation, with non-empty text parts.
# Cross-checked: pkuppens has 645 user-role messages in total, all content_type "text", all on
# the active branch, none empty (its 4 branch points are regenerated assistant siblings);
# realazthat has 8 user-role messages, no branches; the pionxzh files were read node by node
# (image-generation: n1, n7, n13, n19; thinking-summaries: n1, n11).
EXPECTED_COUNTS = {PKUPPENS: 645, REALAZTHAT: 8, IMAGE_GEN: 4, THINKING: 2}


def _write(tmp_path: Path, data: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _node(parent: str | None, children: list[str], role: str | None, text: str = "",
          content_type: str = "text", time: float | None = None,
          hidden: bool = False, **content: Any) -> dict[str, Any]:
    """A ChatGPT mapping node; role None makes the empty root node."""
    if role is None:
        return {"message": None, "parent": parent, "children": children}
    body = {"content_type": content_type, **content}
    if content_type in ("text", "multimodal_text") and "parts" not in content:
        body["parts"] = [text]
    metadata = {"is_visually_hidden_from_conversation": True} if hidden else {}
    message = {"author": {"role": role}, "content": body, "create_time": time,
               "metadata": metadata}
    return {"message": message, "parent": parent, "children": children}


def _chatgpt_conv(cid: str, mapping: dict[str, Any], current: str | None) -> dict[str, Any]:
    conv = {"id": cid, "title": f"title {cid}", "mapping": mapping}
    if current is not None:
        conv["current_node"] = current
    return conv


def _simple_conv(cid: str, question: str = "hello there") -> dict[str, Any]:
    return _chatgpt_conv(cid, {
        "r": _node(None, ["u"], None),
        "u": _node("r", ["a"], "user", question, time=1.0),
        "a": _node("u", [], "assistant", "hi"),
    }, "a")


# ---- the real ChatGPT exports --------------------------------------------------------------


@pytest.mark.parametrize("path", list(EXPECTED_COUNTS), ids=lambda p: p.stem)
def test_fixture_counts(path: Path) -> None:
    assert detect_format(path) == "chatgpt"
    result = parse_export(path)
    assert result.format == "chatgpt"
    assert len(result.messages) == EXPECTED_COUNTS[path]
    assert all(m.text.strip() for m in result.messages)
    assert result.warnings == []
    assert result.custom_instructions == []  # none of the four fixtures holds any


def test_pkuppens_only_user_text_and_active_branch_context() -> None:
    result = parse_export(PKUPPENS)
    data = json.loads(PKUPPENS.read_text(encoding="utf-8"))
    assert result.conversations == len(data) == 192
    non_user: set[str] = set()
    for conv in data:
        for node in conv["mapping"].values():
            message = node.get("message")
            if message and message["author"]["role"] in ("tool", "system"):
                non_user.update(p for p in message["content"].get("parts", []) if p)
    assert not any(m.text in non_user for m in result.messages)
    assert all(m.timestamp is not None for m in result.messages)
    # Regenerated answers: conversations 103 and 188 have two non-empty assistant text
    # siblings, 45 one (its other is empty; 13's are browser `code` calls). Only the one on
    # the current_node path may serve as the next user message's context.
    checked = 0
    for conv in data:
        mapping, on_path, node = conv["mapping"], set(), conv["current_node"]
        while node:
            on_path.add(node)
            node = mapping[node]["parent"]
        contexts = {m.context for m in result.messages if m.conversation_id == conv["id"]}
        for node in mapping.values():
            for child in node["children"] if len(node["children"]) > 1 else []:
                content = mapping[child]["message"]["content"]
                text = "".join(content.get("parts") or []).strip()
                if content["content_type"] == "text" and text:
                    assert (text in contexts) == (child in on_path)
                    checked += 1
    assert checked == 5


def test_code_interpreter_skips_code_output_and_hidden_system() -> None:
    result = parse_export(REALAZTHAT)
    texts = [m.text for m in result.messages]
    assert texts[0].startswith("given two random independent variables")
    assert texts[-1].startswith("where is the variance?")
    assert result.messages[0].context == ""
    assert result.messages[1].context.startswith("The average distance between")
    assert all(m.conversation_id and m.timestamp for m in result.messages)


def test_image_generation_skips_images_tools_hidden_and_recaps() -> None:
    result = parse_export(IMAGE_GEN)
    assert [m.text for m in result.messages] == [f"question {i}" for i in range(1, 5)]
    assert all(m.context == "" for m in result.messages)  # only hidden/empty assistant text


def test_thinking_summaries_skip_thoughts_and_use_assistant_context() -> None:
    result = parse_export(THINKING)
    assert [(m.text, m.context) for m in result.messages] == [
        ("question 1", ""), ("question 2", "answer 1")]


def test_zip_export_streams_conversations_json(tmp_path: Path) -> None:
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(PKUPPENS, "conversations.json")
        zf.writestr("chat.html", "<html></html>")
    assert detect_format(archive) == "chatgpt"
    assert len(parse_export(archive).messages) == 645


# ---- ChatGPT rules on small synthetic exports ----------------------------------------------


def test_inactive_branch_user_message_is_excluded(tmp_path: Path) -> None:
    mapping = {
        "r": _node(None, ["u1"], None),
        "u1": _node("r", ["a1"], "user", "first", time=1.0),
        "a1": _node("u1", ["old", "new"], "assistant", "answer one"),
        "old": _node("a1", ["a2"], "user", "edited away", time=2.0),
        "a2": _node("old", [], "assistant", "old answer"),
        "new": _node("a1", ["a3"], "user", "edited question", time=3.0),
        "a3": _node("new", [], "assistant", "new answer"),
    }
    result = parse_export(_write(tmp_path, [_chatgpt_conv("c", mapping, "a3")]))
    assert [(m.text, m.context) for m in result.messages] == [
        ("first", ""), ("edited question", "answer one")]


def test_missing_current_node_uses_newest_leaf_and_survives_cycles(tmp_path: Path) -> None:
    mapping = {
        "r": _node(None, ["u1", "u2"], None),
        "u1": _node("r", [], "user", "older leaf", time=1.0),
        "u2": _node("r", [], "user", "newer leaf", time=5.0),
        "x": _node("y", ["y"], "user", "cycle x", time=0.5),
        "y": _node("x", ["x"], "user", "cycle y", time=0.6),
    }
    assert [m.text for m in parse_export(_write(tmp_path, [
        _chatgpt_conv("c", mapping, None)])).messages] == ["newer leaf"]
    cyclic = _chatgpt_conv("c", mapping, "x")
    assert sorted(m.text for m in parse_export(_write(tmp_path, [cyclic])).messages) == [
        "cycle x", "cycle y"]


def test_custom_instructions_kept_once_and_roles_filtered(tmp_path: Path) -> None:
    def conv(cid: str) -> dict[str, Any]:
        return _chatgpt_conv(cid, {
            "r": _node(None, ["ctx"], None),
            "ctx": _node("r", ["s"], "user", content_type="user_editable_context", hidden=True,
                         user_profile="I am a nurse.", user_instructions="Be brief."),
            "s": _node("ctx", ["u"], "system", "system prompt", hidden=True),
            "u": _node("s", ["h"], "user", "", content_type="multimodal_text", parts=[
                {"content_type": "image_asset_pointer", "asset_pointer": "file-1"},
                "look at this", {"text": "and this"}]),
            "h": _node("u", ["t"], "user", "hidden user", hidden=True),
            "t": _node("h", ["c"], "tool", "browsing result"),
            "c": _node("t", ["e"], "assistant", content_type="code", text="print(1)"),
            "e": _node("c", [], "user", "", parts=[""]),
        }, "e")

    result = parse_export(_write(tmp_path, [conv("a"), conv("b")]))
    assert result.custom_instructions == ["I am a nurse.", "Be brief."]
    assert [m.text for m in result.messages] == ["look at this\nand this"] * 2
    assert result.conversations == 2


# ---- Claude.ai and ShareGPT ----------------------------------------------------------------


def test_claude_export_uses_text_blocks(tmp_path: Path) -> None:
    data = [{"uuid": "u-1", "name": "Trip", "chat_messages": [
        {"sender": "human", "text": "noisy top-level text", "created_at": "2024-05-01T10:00:00Z",
         "content": [{"type": "text", "text": "Plan a trip"},
                     {"type": "tool_use", "name": "x", "input": {}},
                     {"type": "text", "text": "to Rome"}]},
        {"sender": "assistant", "text": "Sure", "content": [{"type": "text", "text": "Sure!"}]},
        {"sender": "human", "text": "Thanks", "created_at": "bad date"},
    ]}]
    path = _write(tmp_path, data)
    assert detect_format(path) == "claude"
    result = parse_export(path)
    assert result.format == "claude"
    assert [(m.text, m.context) for m in result.messages] == [
        ("Plan a trip\nto Rome", ""), ("Thanks", "Sure!")]
    assert result.messages[0].timestamp == 1714557600.0
    assert result.messages[1].timestamp is None
    assert result.messages[0].conversation_title == "Trip"


def test_sharegpt_export(tmp_path: Path) -> None:
    data = [{"id": "s1", "conversations": [
        {"from": "system", "value": "be nice"}, {"from": "human", "value": "hi"},
        {"from": "gpt", "value": "hello"}, {"from": "user", "value": "bye"}]}]
    path = _write(tmp_path, data)
    assert detect_format(path) == "sharegpt"
    result = parse_export(path)
    assert [(m.text, m.context, m.conversation_id) for m in result.messages] == [
        ("hi", "", "s1"), ("bye", "hello", "s1")]


# ---- bad input ----------------------------------------------------------------------------


def _error(path: Path) -> str:
    with pytest.raises(ExportError) as info:
        parse_export(path)
    return str(info.value)


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("hello, this is not json", encoding="utf-8")
    assert "is not JSON" in _error(path)
    with pytest.raises(ExportError):
        detect_format(path)


def test_top_level_object_and_unknown_format(tmp_path: Path) -> None:
    assert "not a list of conversations" in _error(_write(tmp_path, {"foo": 1}))
    message = _error(_write(tmp_path, [{"foo": 1, "bar": 2}]))
    assert "bar, foo" in message
    assert all(name in message for name in ("ChatGPT", "Claude.ai", "ShareGPT"))


def test_empty_export(tmp_path: Path) -> None:
    assert "empty export" in _error(_write(tmp_path, []))


def test_no_user_messages(tmp_path: Path) -> None:
    conv = _chatgpt_conv("c", {"r": _node(None, ["a"], None),
                               "a": _node("r", [], "assistant", "only me")}, "a")
    assert "no messages written by the user" in _error(_write(tmp_path, [conv]))


def test_truncated_file_keeps_complete_conversations(tmp_path: Path) -> None:
    full = json.dumps([_simple_conv(str(i), f"question {i}") for i in range(5)])
    cut = full[: full.index('{"id": "4"') + 20]  # inside the fifth conversation
    path = tmp_path / "cut.json"
    path.write_text(cut, encoding="utf-8")
    result = parse_export(path)
    assert result.conversations == 4
    assert [m.text for m in result.messages] == [f"question {i}" for i in range(4)]
    assert result.warnings == [
        "The file is cut off after conversation 4; parsed the 4 complete ones."]


def test_truncated_before_any_complete_conversation(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([_simple_conv("a")])[:60], encoding="utf-8")
    assert "cut off before the end of its first conversation" in _error(path)


def test_zip_without_conversations_json(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("chat.html", "<html></html>")
        zf.writestr("user.json", "{}")
    message = _error(archive)
    assert "no conversations.json" in message and "chat.html, user.json" in message


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    good = json.dumps([_simple_conv("a")]).encode("utf-8")
    path.write_bytes(good.replace(b"hello there", b"caf\xe9 there"))
    message = _error(path)
    assert "not valid UTF-8" in message
    assert f"offset {good.index(b'hello there') + 3}" in message


def test_huge_message_is_skipped_with_warning(tmp_path: Path) -> None:
    huge = _simple_conv("big", "x" * (2 * 1024 * 1024))
    result: ParseResult = parse_export(_write(tmp_path, [huge, _simple_conv("small")]))
    assert [m.text for m in result.messages] == ["hello there"]
    assert len(result.warnings) == 1 and "over 1,024 KiB" in result.warnings[0]
    assert "COUNCIL_MAX_MESSAGE_KB" in result.warnings[0]


def test_bom_and_foreign_items_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    body = json.dumps([_simple_conv("a"), {"other": 1}, _simple_conv("b")])
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    result = parse_export(path)
    assert result.conversations == 2 and len(result.messages) == 2
    assert result.warnings == [
        "Item 2 (after conversation 1) is not a chatgpt conversation; skipped it."]


def test_raw_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    """Peak memory stays far below the file size: only one conversation is held at a time."""
    import tracemalloc

    filler = "s" * 20_000  # a big system message per conversation, never kept
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for i in range(800):
            conv = _simple_conv(str(i))
            conv["mapping"]["r"] = _node(None, ["u"], "system", filler)
            out.write(("," if i else "") + json.dumps(conv))
        out.write("]")
    tracemalloc.start()
    try:
        result = parse_export(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(result.messages) == 800
    assert peak < path.stat().st_size / 4


# ---- bounds on work (issue 15) -------------------------------------------------------------

SMALL = dataclasses.replace(DEFAULT_LIMITS, max_export_mb=1)


def _zip(tmp_path: Path, data: bytes) -> Path:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("conversations.json", data)
    return archive


def _padded_export(size: int) -> bytes:
    """A valid ChatGPT export of about `size` bytes: one conversation, then filler ones."""
    filler = json.dumps(_simple_conv("f", "z" * 1000)).encode()
    count = max(1, size // (len(filler) + 2))
    return json.dumps([_simple_conv("a")]).encode()[:-1] + b", " + b", ".join(
        [filler] * count) + b"]"


def test_zip_declaring_more_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    archive = _zip(tmp_path, _padded_export(2 * 1024 * 1024))
    with pytest.raises(ExportError) as refused:
        parse_export(archive, SMALL, lambda done, total: pytest.fail("read the member"))
    assert "unpacks to 2 MiB of JSON" in str(refused.value)
    assert "raise COUNCIL_MAX_EXPORT_MB" in str(refused.value)


def test_zip_that_understates_its_size_is_refused_as_damaged(tmp_path: Path) -> None:
    """A zip bomb's header lies; zipfile stops at the declared size and the CRC fails."""
    data = bytearray(_zip(tmp_path, _padded_export(3 * 1024 * 1024)).read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, 22, 1000)  # uncompressed size, local header
    struct.pack_into("<I", data, central + 24, 1000)  # and central directory
    (tmp_path / "export.zip").write_bytes(bytes(data))
    read: list[int] = []
    message = _error_with(tmp_path / "export.zip", SMALL, lambda done, total: read.append(done))
    assert "damaged zip" in message and "Download the export again" in message
    assert max(read, default=0) <= 1000


def test_json_over_the_limit_is_refused_by_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(_padded_export(3 * 1024 * 1024))
    message = _error_with(path, SMALL)
    assert "more than 1 MiB of JSON" in message and "COUNCIL_MAX_EXPORT_MB=1" in message


def test_progress_moves_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(_padded_export(2 * 1024 * 1024))
    seen: list[tuple[int, int]] = []
    parse_export(path, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert len(seen) >= 8 and seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})


def test_message_count_is_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path, [_simple_conv(str(i)) for i in range(30)])
    message = _error_with(path, dataclasses.replace(DEFAULT_LIMITS, max_messages=20))
    assert "more than 20 user messages" in message and "raise COUNCIL_MAX_MESSAGES" in message


def test_depth_limit_is_a_setting(tmp_path: Path) -> None:
    conv = _simple_conv("a")
    conv["extra"] = json.loads("[" * 30 + "]" * 30)
    path = _write(tmp_path, [conv])
    assert len(parse_export(path).messages) == 1
    message = _error_with(path, dataclasses.replace(DEFAULT_LIMITS, max_export_depth=20))
    assert "more than 20 levels deep" in message and "COUNCIL_MAX_EXPORT_DEPTH=20" in message


def test_many_warnings_become_a_few_and_a_count(tmp_path: Path) -> None:
    path = _write(tmp_path, [_simple_conv("a"), *([{"other": 1}] * 5000)])
    warnings = parse_export(path).warnings
    assert warnings[0] == "Item 2 (after conversation 1) is not a chatgpt conversation; skipped it."
    assert warnings[4].startswith("Item 6 ") and warnings[5:] == ["… and 4,995 more like this."]


def test_limits_follow_the_settings() -> None:
    settings = Settings.from_env({"COUNCIL_MAX_EXPORT_DEPTH": "200", "COUNCIL_MAX_MESSAGES": "9"})
    limits = ExportLimits.from_settings(settings)
    assert (limits.max_export_depth, limits.max_messages) == (200, 9)
    assert dataclasses.replace(limits, max_export_depth=64, max_messages=1_000_000) == (
        DEFAULT_LIMITS)


def _error_with(path: Path, limits: ExportLimits,
                progress: Callable[[int, int], None] = lambda done, total: None) -> str:
    with pytest.raises(ExportError) as excinfo:
        parse_export(path, limits, progress)
    return str(excinfo.value)


def test_discovery_reports_parse_progress_in_mib(tmp_path: Path) -> None:
    """The Discover page's bar moves while a big export parses, instead of sitting at 0/1."""
    filler = json.dumps(_chatgpt_conv("f", {"a": _node(None, [], "assistant", "z" * 4000)},
                                      "a")).encode()
    path = tmp_path / "assistant_only.json"
    path.write_bytes(b"[" + b", ".join([filler] * 800) + b"]")  # 3.1 MiB, nothing by the user
    seen: list[tuple[str, int, int]] = []
    options = DiscoveryOptions(path, tmp_path / "personas")
    with pytest.raises(ExportError, match="no messages written by the user"):
        run_discovery(options, cast(Embedder, None), None, "unused",  # parse fails first
                      lambda stage, done, total: seen.append((stage, done, total)))
    assert seen == [("parse", 0, 1), ("parse", 1, 4), ("parse", 2, 4), ("parse", 3, 4)]


LONE_SURROGATES = (rb'["a\ud800b", "\ud83d\ude00", "\\ud800", "\\\ud800", "\udc00\ud800", '
                   rb'"\ud800\ud800\udc00", "\uDBFF\uDFFF", "\u00e9\\"]')
MENDED = (rb'["a\ufffdb", "\ud83d\ude00", "\\ud800", "\\\ufffd", "\ufffd\ufffd", '
          rb'"\ufffd\ud800\udc00", "\uDBFF\uDFFF", "\u00e9\\"]')


@pytest.mark.parametrize("read_size", range(1, 24))
def test_lone_surrogate_escapes_become_replacement_characters(read_size: int) -> None:
    """Wherever a read cuts an escape, only unpaired surrogates change, to U+FFFD."""
    reader = ExportReader(io.BytesIO(LONE_SURROGATES), "export.json", len(LONE_SURROGATES),
                          DEFAULT_LIMITS, lambda done, total: None)
    assert b"".join(iter(lambda: reader.read(read_size), b"")) == MENDED


def test_lone_surrogates_parse(tmp_path: Path) -> None:
    path = tmp_path / "surrogates.json"
    path.write_bytes(json.dumps([_simple_conv("a", "QUESTION")]).encode().replace(
        b"QUESTION", rb"caf\udc00 \ud83d\ude00 \ud800"))
    assert [m.text for m in parse_export(path).messages] == ["caf\ufffd \U0001f600 \ufffd"]


def test_zip_with_a_huge_table_of_contents_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("conversations.json", json.dumps([_simple_conv("a")]))
        for i in range(20_000):  # about 1.2 MiB of central directory
            zf.writestr(f"image-{i:05}.png", b"")
    assert len(parse_export(archive).messages) == 1
    message = _error_with(archive, dataclasses.replace(DEFAULT_LIMITS, max_zip_index_mb=1))
    assert "has a table of contents of 1 MiB" in message
    assert "raise COUNCIL_MAX_ZIP_INDEX_MB" in message


def test_a_lone_conversation_object_is_bounded_too(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{"mapping": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    assert "raise COUNCIL_MAX_EXPORT_DEPTH" in _error(path)
    with pytest.raises(ExportError, match="raise COUNCIL_MAX_EXPORT_DEPTH"):
        detect_format(path)  # the upload's check
