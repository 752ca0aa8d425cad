"""Parse a chat export (ChatGPT, Claude.ai, ShareGPT) into the user's own messages.

Exports can be a gigabyte or more, so the raw file is never loaded whole: ``ijson`` streams
the top-level array and only one conversation is held in memory at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ijson

from .json_stream import (
    DEFAULT_LIMITS,
    BytesProgress,
    ExportError,
    ExportLimits,
    iter_items,
    shown,
)

__all__ = ["FORMATS", "ExportError", "ExportLimits", "ParseResult", "UserMessage",
           "detect_format", "parse_export", "sharegpt_role"]
FORMATS = ("chatgpt", "claude", "sharegpt")
_TEXT_TYPES = ("text", "multimodal_text")  # a tuple: membership tests never hash odd values
_SHAREGPT_ROLES = {"human": "user", "user": "user", **dict.fromkeys(
    ("gpt", "chatgpt", "assistant", "bard", "bing", "model"), "assistant")}


@dataclass(frozen=True)
class UserMessage:
    """One message the user wrote, with the assistant text it answered."""

    conversation_id: str
    conversation_title: str
    text: str
    timestamp: float | None
    context: str


@dataclass
class ParseResult:
    """Everything the later discovery stages need from one export."""

    format: str
    messages: list[UserMessage] = field(default_factory=list)
    custom_instructions: list[str] = field(default_factory=list)
    conversations: int = 0
    warnings: list[str] = field(default_factory=list)


class WarningLog:
    """Warnings by kind: the first few of each verbatim, then one line counting the rest.

    A hostile export can earn a warning per item (200,000 made a 15 MB job message); what
    reaches the job row must not grow with the export.
    """

    def __init__(self, keep: int = 5) -> None:
        self._keep = keep
        self._kept: dict[str, list[str]] = {}
        self._more: Counter[str] = Counter()

    def add(self, kind: str, text: str) -> None:
        kept = self._kept.setdefault(kind, [])
        if len(kept) < self._keep:
            kept.append(text)
        else:
            self._more[kind] += 1

    def lines(self) -> list[str]:
        lines: list[str] = []
        for kind, kept in self._kept.items():
            lines += kept
            if self._more[kind]:
                lines.append(f"… and {self._more[kind]:,} more like this.")
        return lines


def _guess_format(item: Any) -> str | None:
    """The format one conversation item's keys point to, or None."""
    keys = item if isinstance(item, dict) else {}
    for key, fmt in (("mapping", "chatgpt"), ("chat_messages", "claude"),
                     ("conversations", "sharegpt")):
        if key in keys:
            return fmt
    return None


def _format_of(item: Any) -> str:
    """Decide the export format from one conversation item, or say why it cannot."""
    fmt = _guess_format(item)
    if fmt:
        return fmt
    keys = sorted(item) if isinstance(item, dict) else []
    seen = ", ".join(shown(key) for key in keys[:15]) if keys else f"a {type(item).__name__}"
    raise ExportError(
        f"Unknown export format (first conversation has: {seen}). Supported formats: ChatGPT "
        "(items with 'mapping'), Claude.ai (items with 'chat_messages') and ShareGPT (items "
        "with 'conversations')."
    )


def detect_format(path: Path, limits: ExportLimits = DEFAULT_LIMITS) -> str:
    """Name the export's format ("chatgpt", "claude" or "sharegpt") from its first item."""
    with ExitStack() as stack:
        try:
            first = next(iter_items(Path(path), stack, limits, _no_progress), None)
        except ijson.JSONError as exc:
            raise _unreadable(Path(path), exc, 0) from exc
    if first is None:
        raise ExportError(f"{Path(path).name} is an empty export: it holds no conversations.")
    return _format_of(first)


def _no_progress(done: int, total: int) -> None:
    return None


_NUMBER_PROBLEMS = {  # yajl's words for valid JSON it cannot hold, and what they mean
    "integer overflow": "a whole number beyond 64 bits, which the parser cannot read",
    "numeric (floating point) overflow": "a number beyond the largest float (1.8e308)"}


def _short(exc: Exception) -> str:
    """First line of a parser error; yajl's messages carry a multi-line caret drawing."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__


def _unreadable(path: Path, exc: ijson.JSONError, conversations: int) -> ExportError:
    """The parser's complaint, in words: a number it cannot hold is valid JSON, not a typo."""
    line = _short(exc)
    problem = next((v for k, v in _NUMBER_PROBLEMS.items() if k in line), None)
    if problem:
        return ExportError(f"{path.name} holds {problem}, after conversation {conversations}. "
                           "Remove or quote that number and try again.")
    return ExportError(f"{path.name} is not valid JSON after conversation {conversations}: "
                       f"{line}. Export it again from the chat service.")


# ---- ChatGPT ------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else empty: exports are hand-edited and tools differ."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _active_branch(mapping: dict[str, Any], current: Any) -> list[dict[str, Any]]:
    """Nodes from the root to current_node (or the newest leaf), guarding against cycles."""
    if not isinstance(current, str) or current not in mapping:
        current = _newest_leaf(mapping)
    path: list[dict[str, Any]] = []
    seen: set[str] = set()
    while isinstance(current, str) and current in mapping and current not in seen:
        seen.add(current)
        node = _dict(mapping[current])
        path.append(node)
        current = node.get("parent")
    return path[::-1]


def _newest_leaf(mapping: dict[str, Any]) -> str | None:
    """The leaf whose message is newest: the branch the user last saw."""
    leaves = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("children")]

    def created(key: str) -> float:
        stamp = _dict(mapping[key].get("message")).get("create_time")
        return float(stamp) if isinstance(stamp, (int, float)) else float("-inf")

    return max(leaves, key=created, default=None)


def _chatgpt_text(content: dict[str, Any]) -> str:
    """Visible text of a text/multimodal message; image pointers and other parts are dropped."""
    pieces: list[str] = []
    for part in _list(content.get("parts")):
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            pieces.append(part["text"])
    return "\n".join(p for p in pieces if p.strip()).strip()


def _custom_instructions(mapping: dict[str, Any]) -> list[str]:
    """Custom instructions (user_editable_context) anywhere in the conversation."""
    found: list[str] = []
    for node in mapping.values():
        content = _dict(_dict(_dict(node).get("message")).get("content"))
        if content.get("content_type") == "user_editable_context":
            for key in ("user_profile", "user_instructions"):
                text = content.get(key)
                if isinstance(text, str) and text.strip():
                    found.append(text.strip())
    return found


def _chatgpt_turns(item: dict[str, Any]) -> Iterator[tuple[str, str, float | None]]:
    """(role, text, timestamp) for visible user and assistant text on the active branch."""
    mapping = _dict(item.get("mapping"))
    for node in _active_branch(mapping, item.get("current_node")):
        message = _dict(node.get("message"))
        role = _dict(message.get("author")).get("role")
        content = _dict(message.get("content"))
        if role not in ("user", "assistant") or content.get("content_type") not in _TEXT_TYPES:
            continue
        if _dict(message.get("metadata")).get("is_visually_hidden_from_conversation"):
            continue
        stamp = message.get("create_time")
        yield role, _chatgpt_text(content), stamp if isinstance(stamp, (int, float)) else None


# ---- Claude.ai and ShareGPT ---------------------------------------------------------------


def _claude_text(message: dict[str, Any]) -> str:
    """Join the text blocks; the top-level `text` also holds tool and attachment noise."""
    blocks = message.get("content")
    if not isinstance(blocks, list) or not blocks:
        return str(message.get("text") or "").strip()
    texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str) and t.strip()).strip()


def _iso_seconds(value: Any) -> float | None:
    """Unix seconds from an ISO-8601 timestamp, or None when absent or unreadable."""
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def _claude_turns(item: dict[str, Any]) -> Iterator[tuple[str, str, float | None]]:
    """(role, text, timestamp) for each Claude.ai chat message."""
    for message in _list(item.get("chat_messages")):
        if isinstance(message, dict):
            sender = message.get("sender")
            role = {"human": "user", "assistant": "assistant"}.get(
                sender if isinstance(sender, str) else "")
            if role:
                yield role, _claude_text(message), _iso_seconds(message.get("created_at"))


def sharegpt_role(turn: dict[str, Any]) -> str | None:
    """"user" or "assistant" for a ShareGPT turn, by its `from`; None for anything else."""
    return _SHAREGPT_ROLES.get(str(turn.get("from", "")).lower())


def _sharegpt_turns(item: dict[str, Any]) -> Iterator[tuple[str, str, float | None]]:
    """(role, text, None) for each ShareGPT turn (ShareGPT carries no timestamps)."""
    for turn in _list(item.get("conversations")):
        if not isinstance(turn, dict):
            continue
        role = sharegpt_role(turn)
        if role:
            yield role, str(turn.get("value") or "").strip(), None


_TURNS = {"chatgpt": _chatgpt_turns, "claude": _claude_turns, "sharegpt": _sharegpt_turns}


# ---- putting it together ------------------------------------------------------------------


def _collect(item: dict[str, Any], fmt: str, result: ParseResult, log: WarningLog,
             limits: ExportLimits, name: str) -> None:
    """Add one conversation's user messages (with their context) to the result."""
    conv_id = str(item.get("conversation_id") or item.get("id") or item.get("uuid") or "")
    title = str(item.get("title") or item.get("name") or "")
    context = ""
    for role, text, stamp in _TURNS[fmt](item):
        if role == "assistant":
            context = text or context
            continue
        if not text:
            continue
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_message_kb * 1024:
            log.add("long message", (
                f"Skipped a message of {size // 1024:,} KiB in conversation "
                f"{shown(title or conv_id)!r}: messages over {limits.max_message_kb:,} KiB are "
                f"pasted data, not the user's voice ({limits.setting('max_message_kb')})."))
            continue
        if len(result.messages) >= limits.max_messages:
            raise limits.refusal(name, f"has more than {limits.max_messages:,} user messages",
                                 "max_messages")
        result.messages.append(UserMessage(conv_id, title, text, stamp, context))
    if fmt == "chatgpt" and isinstance(item.get("mapping"), dict):
        for text in _custom_instructions(item["mapping"]):
            if text not in result.custom_instructions:
                result.custom_instructions.append(text)


def _parse_items(path: Path, items: Iterator[Any], result: ParseResult, log: WarningLog,
                 limits: ExportLimits) -> None:
    """Consume the item stream, turning a cut-off file into a warning when possible."""
    try:
        for number, item in enumerate(items, 1):
            result.format = result.format or _format_of(item)
            if _guess_format(item) != result.format:
                log.add("foreign item", f"Item {number:,} (after conversation "
                        f"{result.conversations:,}) is not a {result.format} conversation; "
                        "skipped it.")
                continue
            _collect(item, result.format, result, log, limits, path.name)
            result.conversations += 1
    except ijson.IncompleteJSONError as exc:
        if not any(s in _short(exc) for s in ("premature EOF", "Incomplete JSON")):
            raise _unreadable(path, exc, result.conversations) from exc
        if result.conversations == 0:
            raise ExportError(
                f"{path.name} is cut off before the end of its first conversation. "
                "The download or copy was interrupted: export or copy it again."
            ) from exc
        n = result.conversations
        log.add("cut off", f"The file is cut off after conversation {n}; parsed the {n} "
                           "complete ones.")


def parse_export(path: Path, limits: ExportLimits = DEFAULT_LIMITS,
                 progress: BytesProgress = _no_progress) -> ParseResult:
    """Stream an export (.json or ChatGPT .zip) into the user's own messages.

    `progress` hears (bytes read, bytes expected) as the parser reads.
    """
    path = Path(path)
    result = ParseResult(format="")
    log = WarningLog()
    with ExitStack() as stack:
        _parse_items(path, iter_items(path, stack, limits, progress), result, log, limits)
    result.warnings = log.lines()
    if not result.format:
        raise ExportError(f"{path.name} is an empty export: it holds no conversations.")
    if not result.messages:
        raise ExportError(
            f"{path.name} ({result.format}, {result.conversations} conversations) has no "
            "messages written by the user. Check that this is your own export."
        )
    return result
