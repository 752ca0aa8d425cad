"""Families of hostile input, shared by every suite that feeds them to an edge of the app.

A new route, event or upload format is covered by adding it to its suite's list; a new kind of
hostile input by adding it here. Each family is a list of (name, value) pairs: raw JSON bodies
(bytes, some not JSON at all) and values to put in a field.
"""

from __future__ import annotations

HUGE_TEXT = "x" * 4_000_000  # under the 16 MiB body limit, over every field's own limit
DEEP = 100_000  # levels: a few hundred KB of brackets that a naive parser turns into gigabytes

BODIES: list[tuple[str, bytes]] = [
    # deep nesting
    ("deep list", b"[" * DEEP + b"]" * DEEP),
    ("deep object", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    ("nested past the limit", b'{"title":' + b"[" * 40 + b"]" * 40 + b"}"),
    # huge strings and counts
    ("huge string", b'{"title": "' + HUGE_TEXT.encode() + b'"}'),
    ("huge count", b'{"personas": [' + b",".join([b"{}"] * 200_000) + b"]}"),
    ("huge key count", b"{" + b",".join(b'"k%d": 1' % i for i in range(100_000)) + b"}"),
    # wrong top-level types
    ("top-level list", b"[1, 2]"),
    ("top-level string", b'"a string"'),
    ("top-level number", b"12"),
    ("top-level null", b"null"),
    # numbers JSON does not have, or no column holds
    ("infinite", b'{"title": 1e999, "round_id": 1e999}'),
    ("NaN", b'{"balance": NaN}'),
    ("beyond 64 bits", b'{"answer_id": 18446744073709551616, "keep": 99999999999999999999999}'),
    ("4300 digits", b'{"round_id": ' + b"9" * 5000 + b"}"),
    # unicode edge cases
    ("lone surrogate", b'{"title": "a\\ud800b", "kind": "\\udfff"}'),
    ("NUL", b'{"title": "a\\u0000b"}'),
    ("byte-order mark", b'\xef\xbb\xbf{"title": "bom"}'),
    ("overlong UTF-8", b'{"title": "\xc0\xaf"}'),
    ("invalid UTF-8", b'{"title": "\xff\xfe"}'),
    ("not JSON", b"{title: nope"),
]

# bodies that are JSON objects the app may take (ignoring what it does not read)
LEGAL_BODIES = {"huge count", "huge key count", "byte-order mark"}

# values put in place of a field that should hold an id, a number, a flag or a line of text
WRONG_VALUES: list[tuple[str, object]] = [
    ("list", ["a"]),
    ("object", {"a": 1}),
    ("number", 1.5),
    ("negative", -1),
    ("beyond 64 bits", 2**64),
    ("true", True),
    ("text", "x"),
    ("empty text", ""),
    ("lone surrogate", "\ud800"),
    ("NUL", "a\x00b"),
    ("huge text", "y" * 1_000_000),
]

# every field name a JSON route or a Socket.IO event reads
FIELDS = ["title", "kind", "answer_id", "blind", "round_id", "upload", "clusters", "balance",
          "personas", "on_conflict", "keep", "disable", "persona_id", "examples", "max_steps",
          "mode", "variant", "conversation_id", "text", "peer_review", "parent_round_id"]
