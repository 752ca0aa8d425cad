"""Read an export's JSON as a stream of top-level items, with every cost bounded.

ijson's `items` keeps a prefix string per nesting level (a 348-byte zip nesting 100,000 deep
took 3.6 GB), so items are built here from `basic_parse` events, counting depth and values as
they come. The byte reader under the parser checks UTF-8, counts the bytes actually read (a
zip's declared size can lie), mends escaped lone surrogates and reports progress. Each limit
is a setting; its error says so.
"""

from __future__ import annotations

import codecs
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import ijson

from ..config import VARIABLES, Settings

MIB = 1024 * 1024
BytesProgress = Callable[[int, int], None]
"""Called as (bytes read, bytes expected) after each chunk the parser reads."""
_SETTING_NAMES = {variable.attribute: variable.name for variable in VARIABLES}
_DECODE_SLICE = MIB  # UTF-8 is checked this much at a time, so no big str is ever made
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # starts with a literal: fast
# what may be the start of a surrogate escape (or pair) that the next chunk completes
_OPEN_ESCAPE = re.compile(rb"(?:\\+u[dD][89abAB][0-9a-fA-F]{2})?\\+(?:u[0-9a-fA-F]{0,3})?\Z"
                          rb"|\\+u[dD][89abAB][0-9a-fA-F]{2}\Z")


class ExportError(ValueError):
    """The export cannot be read; the message says what to do about it."""


@dataclass(frozen=True)
class ExportLimits:
    """What one export may cost: each field is the setting of the same name (config.py)."""

    max_export_mb: int
    max_export_depth: int
    max_conversation_mb: int
    max_conversation_values: int
    max_messages: int
    max_message_kb: int
    max_zip_index_mb: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportLimits:
        return cls(**{limit.name: getattr(settings, limit.name) for limit in fields(cls)})

    @staticmethod
    def setting(limit: str) -> str:
        """The environment variable that sets `limit` (a field name)."""
        return _SETTING_NAMES[limit]

    def refusal(self, name: str, problem: str, limit: str) -> ExportError:
        """An error naming the limit that was hit and the setting that raises it."""
        setting = self.setting(limit)
        return ExportError(f"{name} {problem} (the limit: {setting}={getattr(self, limit)}). "
                           f"If the export is genuine, raise {setting} and try again.")


DEFAULT_LIMITS = ExportLimits.from_settings(Settings())


def shown(text: Any, limit: int = 60) -> str:
    """A name or key from the export, cut short: errors and warnings stay small."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def buffer_size(total: int) -> int:
    """The parser's read size: a sixteenth of the input, between 64 KiB and 16 MiB.

    ijson's time on one long string grows with its length squared over the buffer (a 256 MB
    string: 137 s at 64 KiB), so a buffer of a sixteenth keeps any string within ~16 passes
    over the file, while a small export still reads in small chunks.
    """
    return min(16 * MIB, max(64 * 1024, total // 16))


class _SurrogateMender:
    """Rewrites escaped lone UTF-16 surrogates (a `\\ud800` without its pair) to `\\ufffd`.

    yajl turns a lone high one into "?" and a lone low one into bytes Python cannot decode;
    one such escape in a message must not cost the user the whole export. The replacement
    has the same length, so offsets in errors stay true. An escape cut by the end of a chunk
    is held back until the next one completes it.
    """

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """The mended bytes ready to parse; an empty chunk (the end) releases what is held."""
        data, self._held = (self._held + chunk if self._held else chunk), b""
        if chunk:
            tail = _OPEN_ESCAPE.search(data, max(0, len(data) - 64))
            if tail:
                cut = tail.start()
                while cut > 0 and data[cut - 1] == ord("\\"):  # the whole backslash run
                    cut -= 1
                data, self._held = data[:cut], data[cut:]
        return _mend(data) if b"\\u" in data else data


def _mend(data: bytes) -> bytes:
    escapes = [m.start() for m in _SURROGATE.finditer(data) if _escapes(data, m.start())]
    mended, index = None, 0
    while index < len(escapes):
        start = escapes[index]
        after = escapes[index + 1] if index + 1 < len(escapes) else None
        if data[start + 3] in b"89abAB" and after == start + 6 and data[after + 3] not in b"89abAB":
            index += 2  # a high surrogate and its low one: a real character
            continue
        mended = mended or bytearray(data)
        mended[start + 2:start + 6] = b"fffd"
        index += 1
    return data if mended is None else bytes(mended)


def _escapes(data: bytes, backslash: int) -> bool:
    """Whether the backslash at `backslash` starts an escape: an odd run of them ends there."""
    run = backslash
    while run > 0 and data[run - 1] == ord("\\"):
        run -= 1
    return (backslash - run) % 2 == 0


class ExportReader:
    """The bytes ijson reads: UTF-8 checked as they pass, counted against the limits.

    A leading byte-order mark is dropped because the JSON parser rejects it. `mark()` is
    called after each complete top-level item; the bytes since the last mark are one
    conversation (or one value), bounded by `max_conversation_mb` even inside a long string.
    """

    def __init__(self, raw: IO[bytes], name: str, total: int, limits: ExportLimits,
                 progress: BytesProgress) -> None:
        self._raw, self._name, self.total = raw, name, total
        self._limits, self._progress = limits, progress
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.offset = 0
        self._lines = 1
        self._first = True
        self._marked = 0
        self._mender = _SurrogateMender()

    def mark(self) -> None:
        self._marked = self.offset

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson's first call, a type probe
            return b""
        while True:  # until some bytes are ready, or the end
            raw = _read(self._raw, size, self._name)
            if self._first and raw:
                self._first = False
                raw = raw.removeprefix(codecs.BOM_UTF8)
            chunk = self._mender.feed(raw)
            if chunk or not raw:
                break
        self._check_utf8(chunk)
        self.offset += len(chunk)
        self._lines += chunk.count(b"\n")
        limits = self._limits
        if self.offset > limits.max_export_mb * MIB:
            raise limits.refusal(self._name, f"holds more than {limits.max_export_mb:,} MiB of "
                                 "JSON", "max_export_mb")
        if self.offset - self._marked > limits.max_conversation_mb * MIB:
            raise limits.refusal(
                self._name, f"has a conversation or value longer than "
                f"{limits.max_conversation_mb:,} MiB (from byte {self._marked:,})",
                "max_conversation_mb")
        if chunk:
            self._progress(self.offset, self.total)
        return chunk

    def _check_utf8(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        for start in range(0, len(chunk), _DECODE_SLICE):
            try:  # not final: a character cut at EOF is a truncated file, which ijson reports
                self._decoder.decode(view[start:start + _DECODE_SLICE])
            except UnicodeDecodeError as exc:
                bad = start + max(exc.start, 0)
                line = self._lines + chunk[:bad].count(b"\n")
                raise ExportError(
                    f"The export is not valid UTF-8: bad byte at offset {self.offset + bad} "
                    f"(line {line}). Export it again from the chat service, or re-save the "
                    "file as UTF-8.") from exc


def _read(raw: IO[bytes], size: int, name: str) -> bytes:
    """`size` bytes of the stream; a zip member that fails its checks is a damaged export."""
    try:
        return raw.read(size)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _damaged(name, exc) from exc


def _damaged(name: str, exc: Exception) -> ExportError:
    return ExportError(f"{name} is a damaged zip ({shown(exc, 120)}). Download the export "
                       "again.")


def open_export(path: Path, stack: ExitStack, limits: ExportLimits) -> tuple[IO[bytes], int]:
    """The JSON stream and its declared size: the file, or conversations.json in a zip."""
    if not path.is_file():
        raise ExportError(f"No export file at {path}. Check the path and try again.")
    if not zipfile.is_zipfile(path):
        return stack.enter_context(path.open("rb")), path.stat().st_size
    _check_zip_index(path, limits)
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise _damaged(path.name, exc) from exc
    members = [m for m in archive.infolist() if Path(m.filename).name == "conversations.json"]
    if not members:
        listing = ", ".join(shown(n) for n in archive.namelist()[:20]) or "nothing"
        raise ExportError(
            f"The zip {path.name} has no conversations.json (it holds: {listing}). "
            "Use the zip ChatGPT emails you from Settings > Data controls > Export data."
        )
    member = min(members, key=lambda m: len(m.filename))
    if member.file_size > limits.max_export_mb * MIB:
        raise limits.refusal(path.name, f"unpacks to {member.file_size / MIB:,.0f} MiB of JSON",
                             "max_export_mb")
    return stack.enter_context(archive.open(member)), member.file_size


def _check_zip_index(path: Path, limits: ExportLimits) -> None:
    """Refuse a zip whose table of contents is huge before zipfile builds an object per entry.

    The size is read with zipfile's own reader of the end record, so both see the same zip.
    """
    with path.open("rb") as handle:
        end = zipfile._EndRecData(handle)
    index = end[zipfile._ECD_SIZE] if end else 0
    if index > limits.max_zip_index_mb * MIB:
        raise limits.refusal(path.name, f"has a table of contents of {index / MIB:,.0f} MiB "
                             "(a ChatGPT export's is under 1 MiB)", "max_zip_index_mb")


def _first_byte(path: Path, limits: ExportLimits) -> bytes:
    """The first non-blank byte, read from a stream of its own (the parser reopens it)."""
    with ExitStack() as stack:
        stream, _ = open_export(path, stack, limits)
        return _read(stream, 4096, path.name).removeprefix(codecs.BOM_UTF8).lstrip()[:1]


_SCALARS = frozenset(("string", "number", "integer", "double", "boolean", "null"))
_ENDS = frozenset(("end_map", "end_array"))


class _Builder:
    """Builds values from `basic_parse` events, refusing depth and size beyond the limits."""

    def __init__(self, events: Iterator[tuple[str, Any]], name: str,
                 limits: ExportLimits) -> None:
        self.events, self.name, self._limits = events, name, limits

    def value(self, first: str, scalar: Any, depth: int) -> Any:
        """The value whose first event is `first` (with `scalar`), at nesting `depth`."""
        if first not in ("start_map", "start_array"):
            return scalar
        limits = self._limits
        max_depth, max_values = limits.max_export_depth - depth, limits.max_conversation_values
        root: Any = {} if first == "start_map" else []
        stack, top, in_list, key, values = [root], root, first == "start_array", None, 1
        if max_depth < 1:
            raise self._too_deep()
        for event, value in self.events:
            if event == "map_key":
                key = value
                continue
            values += 1
            if values > max_values:
                raise limits.refusal(self.name, f"has a conversation of more than "
                                     f"{max_values:,} JSON values", "max_conversation_values")
            if event in _SCALARS:
                if in_list:
                    top.append(value)
                else:
                    top[key] = value
            elif event in _ENDS:
                stack.pop()
                if not stack:
                    return root
                top = stack[-1]
                in_list = type(top) is list
            else:
                child: Any = {} if event == "start_map" else []
                if in_list:
                    top.append(child)
                else:
                    top[key] = child
                stack.append(child)
                if len(stack) > max_depth:
                    raise self._too_deep()
                top, in_list = child, event == "start_array"
        raise ijson.IncompleteJSONError("Incomplete JSON content")

    def _too_deep(self) -> ExportError:
        depth = self._limits.max_export_depth
        return self._limits.refusal(
            self.name, f"nests lists or objects more than {depth:,} levels deep, where a "
            "ChatGPT export nests about 10", "max_export_depth")


def iter_items(path: Path, stack: ExitStack, limits: ExportLimits,
               progress: BytesProgress) -> Iterator[Any]:
    """Yield top-level conversation items; a lone conversation object counts as one item."""
    first = _first_byte(path, limits)
    if first not in (b"[", b"{"):
        what = "an empty file" if not first else f"{first!r}"
        raise ExportError(
            f"{path.name} is not JSON (it starts with {what}). Give the conversations.json "
            "from your chat export (or the ChatGPT export .zip)."
        )
    raw, total = open_export(path, stack, limits)
    reader = ExportReader(raw, path.name, total, limits, progress)
    events = ijson.basic_parse(reader, use_float=True, buf_size=buffer_size(total))
    yield from _items(events, _Builder(events, path.name, limits), reader)


def _items(events: Iterator[tuple[str, Any]], builder: _Builder,
           reader: ExportReader) -> Iterator[Any]:
    name = builder.name
    event, value = next(events)
    if event == "start_map":
        item = builder.value(event, value, 0)
        if not (set(item) & {"mapping", "chat_messages", "conversations"}):
            keys = ", ".join(shown(key) for key in sorted(item)[:15])
            raise ExportError(f"{name} holds a JSON object, not a list of conversations "
                              f"(keys seen: {keys}). Give the conversations.json from your "
                              "export.")
        yield item
        return
    for event, value in events:
        if event == "end_array":
            break
        yield builder.value(event, value, 1)
        reader.mark()
    for _ in events:  # what follows the list must still be valid JSON (whitespace)
        pass
