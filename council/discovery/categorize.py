"""What discovery adds to the shared traits (`council.features`): the text each message is
embedded as, the key that spots repeats, and filler that says nothing about the user.
"""

from __future__ import annotations

import re
import unicodedata

from ..features.code import without_code
from ..features.traits import ANALYSIS_CHARS, categorize

# Filler: these whole messages (casefolded, punctuation stripped) say nothing about the user.
_FILLER = (
    "continue|go on|keep going|more|yes|no|ok|okay|k|thanks|thank you|thx|ty|regenerate|again|"
    "next|sure|cool|great|nice|perfect|got it|done|yep|yeah|nope|hi|hello|hey|please continue|"
    "continue please|go ahead|carry on|retry|try again|same|lol|haha|good|awesome|ok thanks|"
    "thanks a lot|thank you so much|that works|it works|stop|finish|keep going please|"
    "more please|elaborate|expand|shorter|longer|continue where you left off|and|so|"
    "continue from where you left off|you stopped|you got cut off|what else|anything else")
FILLER_PHRASES = frozenset(_FILLER.split("|"))


def embedding_text(text: str, max_chars: int = 2000) -> str:
    """Text to embed: code and logs become tags so they don't dominate clusters."""
    text = " ".join(without_code(text[:max(max_chars * 20, ANALYSIS_CHARS)]).split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space >= max_chars * 0.8 else cut).rstrip()


def _strip_ends(text: str) -> str:
    """Drop whitespace and Unicode punctuation from both ends."""
    def edge(ch: str) -> bool:
        return ch.isspace() or unicodedata.category(ch).startswith("P")

    start, end = 0, len(text)
    while start < end and edge(text[start]):
        start += 1
    while end > start and edge(text[end - 1]):
        end -= 1
    return text[start:end]


def dedupe_key(text: str) -> str:
    """Casefolded, whitespace-collapsed, end-punctuation-stripped text, to drop repeats."""
    return _strip_ends(" ".join(text.casefold().split()))


def is_filler(text: str) -> bool:
    """True for "continue"/"thanks"-style messages and tiny chatter with no question or topic."""
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.casefold()[:200])
    if " ".join(words) in FILLER_PHRASES or not words:
        return True
    if len(words) >= 3 or "?" in text:
        return False
    labels = categorize(text)
    return not (labels.question_types or labels.has_code or labels.topic != "other")
