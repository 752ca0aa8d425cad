"""Extract and categorise: the user's messages, labelled, with repeats and filler set aside.

Writes `extracted/all_messages.jsonl` (every user message with its context) and
`extracted/categorized_messages.jsonl` (the same plus categories, the text that will be
embedded, and why a message was set aside, if it was).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_jsonl_atomic
from ..features.traits import MessageTraits, categorize
from ..files import PersonaFiles
from .categorize import dedupe_key, embedding_text, is_filler
from .parse import ParseResult, UserMessage


@dataclass(frozen=True)
class ExtractedMessage:
    id: str
    message: UserMessage
    categories: MessageTraits
    embedding_text: str
    set_aside: str | None  # None (kept), "filler" or "duplicate"

    def row(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self.message), "categories": asdict(self.categories),
                "embedding_text": self.embedding_text, "set_aside": self.set_aside}


@dataclass(frozen=True)
class Extraction:
    messages: list[ExtractedMessage]

    @property
    def kept(self) -> list[ExtractedMessage]:
        """The messages that go on to embedding and clustering."""
        return [m for m in self.messages if m.set_aside is None]

    def set_aside_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.messages:
            if message.set_aside:
                counts[message.set_aside] = counts.get(message.set_aside, 0) + 1
        return counts


def load_previous(path: Path) -> dict[str, tuple[MessageTraits, str]]:
    """Traits and embedding text from an earlier run, by message id (a warm re-run)."""
    if not path.is_file():
        return {}
    known = {}
    with path.open(encoding="utf-8") as rows:
        for line in rows:
            try:
                row = json.loads(line)
                known[row["id"]] = (MessageTraits(**row["categories"]), row["embedding_text"])
            except (ValueError, KeyError, TypeError):
                return {}
    return known


def extract_messages(parsed: ParseResult,
                     known: dict[str, tuple[MessageTraits, str]] | None = None) -> Extraction:
    """Categorise every message; set aside filler and repeats (the first copy is kept).

    `known` (from `load_previous`) skips categorising messages an earlier run already did.
    """
    known = known or {}
    seen: set[str] = set()
    extracted = []
    for message in parsed.messages:
        key = dedupe_key(message.text)
        if is_filler(message.text):
            reason: str | None = "filler"
        elif key in seen:
            reason = "duplicate"
        else:
            reason = None
            seen.add(key)
        message_id = hashlib.sha256(
            f"{message.conversation_id}\n{message.text}".encode()).hexdigest()[:16]
        categories, text = known.get(message_id) or (categorize(message.text),
                                                     embedding_text(message.text))
        extracted.append(ExtractedMessage(id=message_id, message=message, categories=categories,
                                          embedding_text=text, set_aside=reason))
    return Extraction(extracted)


def write_extraction(extraction: Extraction, files: PersonaFiles) -> None:
    """Write both JSONL files atomically (`all_messages`, `categorized_messages`)."""
    write_jsonl_atomic(files.all_messages, ({"id": m.id, **asdict(m.message)}
                                            for m in extraction.messages))
    write_jsonl_atomic(files.categorized_messages, (m.row() for m in extraction.messages))
