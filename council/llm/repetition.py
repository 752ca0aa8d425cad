"""Noticing a generation that repeats itself, whatever backend streams it.

Small models fall into loops (one sentence again and again until the length limit) even with a
repetition penalty; every stream of a round passes through a `LoopDetector`, which says when the
text has started to go round in circles so the round can end that generation early, keep its
text and mark it "stopped: repeating" (`REPEATING`). It reads characters, not tokens, so it
works the same on every backend.

Two signs, each chosen so that text which repeats on purpose is not caught:

- the text ends with one span repeated back to back: at least `MIN_COPIES` copies of a span of
  `LONG_SPAN` characters or more, or, for shorter spans, enough copies to cover `SHORT_COVER`
  characters; a span needs a few letters or digits (a Markdown rule or a row of dashes is not a
  loop);
- one sentence or line of `MIN_SENTENCE` characters or more (list markers and case ignored)
  appears `MIN_COPIES` times within the last `WINDOW` characters.

Inside a fenced code block, where lines repeat legitimately, both need `CODE_COPIES` copies.
"""

from __future__ import annotations

import re
from collections import Counter

REPEATING = "repeating"  # the done reason of a generation the detector ended

MIN_COPIES = 3
CODE_COPIES = 6
LONG_SPAN = 24  # characters from which three copies back to back are a loop
SHORT_SPAN = 4  # the shortest span looked at
SHORT_COVER = 96  # characters a short span must cover, back to back, to count
MAX_SPAN = 400
MIN_SPAN_WORD_CHARS = 4
MIN_SENTENCE = 24
WINDOW = 3000

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
LIST_MARKER = re.compile(r"^\s*(?:[-*+>#]+|\d+[.)]|[a-z][.)])\s+", re.IGNORECASE)
SPACES = re.compile(r"\s+")
WORD_CHAR = re.compile(r"\w")


def copies_needed(span: int, in_code: bool) -> int:
    """How many back-to-back copies of a span this long make a loop."""
    copies = MIN_COPIES if span >= LONG_SPAN else -(-SHORT_COVER // span)
    return max(copies, CODE_COPIES) if in_code else copies


def candidate_spans(text: str) -> list[int]:
    """Spans the text may end repeating: where its last `SHORT_SPAN` characters occurred
    before, at most `MAX_SPAN` back (a cheap filter before the full comparison)."""
    key, end, spans = text[-SHORT_SPAN:], len(text) - SHORT_SPAN, []
    found = text.rfind(key, max(0, end - MAX_SPAN), end)
    while found >= 0:
        spans.append(end - found)
        found = text.rfind(key, max(0, end - MAX_SPAN), found + SHORT_SPAN - 1)
    return spans


def repeated_tail(text: str, in_code: bool) -> int:
    """The length of the span the text ends repeating back to back, or 0 if it does not."""
    for span in sorted(candidate_spans(text)):
        size = span * copies_needed(span, in_code)
        if size > len(text):
            continue
        tail = text[-size:]
        # a string repeats with period `span` exactly when it equals itself shifted by it
        if tail[span:] == tail[:-span] and \
                len(WORD_CHAR.findall(tail[-span:])) >= MIN_SPAN_WORD_CHARS:
            return span
    return 0


def sentence_key(sentence: str) -> str:
    """A sentence as compared for repeats: no list marker, spacing or case."""
    return SPACES.sub(" ", LIST_MARKER.sub("", sentence)).strip().lower()


def repeated_sentence(text: str, in_code: bool) -> str | None:
    """A sentence or line the recent text holds too many times, if any. The last piece, which
    may still be growing, is left out."""
    pieces = SENTENCE_END.split(text[-WINDOW:])[:-1]
    if len(text) > WINDOW:
        pieces = pieces[1:]  # cut by the window
    counts = Counter(key for key in map(sentence_key, pieces) if len(key) >= MIN_SENTENCE)
    needed = CODE_COPIES if in_code else MIN_COPIES
    return next((key for key, count in counts.items() if count >= needed), None)


class LoopDetector:
    """Fed a stream's deltas one by one; `feed` turns True once the text is looping."""

    def __init__(self) -> None:
        self.text = ""
        self.looping = False

    def feed(self, delta: str) -> bool:
        self.text += delta
        if not self.looping:
            in_code = self.text.count("```") % 2 == 1
            self.looping = bool(repeated_tail(self.text, in_code)
                                or repeated_sentence(self.text, in_code))
        return self.looping
