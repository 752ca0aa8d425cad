"""Which languages an export is written in, and those languages' stop words.

A persona must never be named after "een" or "und": keywords and names drop the stop words of
every language the user writes in, not only English. Detection is py3langid (a naive Bayes
model shipped in the package: offline, deterministic, ~20 µs a message); stop words come from
stopwords-iso (the `stopwordsiso` package's bundled lists). Only languages both know are
detected, so every detected language has a stop list.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import stopwordsiso
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from ..features.code import without_code

ENGLISH = "en"  # names are written in English, so its stop words always apply
MIN_CONFIDENCE = 0.8  # below this a message's language is left unknown
MIN_LETTERS = 20  # shorter messages ("ok wat is dit") are too short to tell
MIN_SHARE = 0.05  # a language counts for the export from this share of the known messages…
MIN_MESSAGES = 2  # …and at least this many of them
SAMPLE_CHARS = 1000  # the opening of a message says which language it is in
LANGUAGE_NAMES = {
    "af": "Afrikaans", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "fi": "Finnish", "fr": "French",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}
_NOISE_RE = re.compile(r"\[(?:code|log)[^\]]*\]|https?://\S+|<[^>]*>|`[^`]*`|\S*[\d_/\\@]\S*")


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    """The py3langid model (0.6 s to load), restricted to languages with a stop list."""
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(sorted(set(identifier.labels) & set(stopwordsiso.langs())))
    return identifier


def message_language(text: str) -> str | None:
    """The language of one message's prose, or None when it is too short or unclear."""
    prose = " ".join(_NOISE_RE.sub(" ", without_code(text[:SAMPLE_CHARS * 4])).split())
    prose = prose[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in prose) < MIN_LETTERS:
        return None
    language, confidence = _identifier().classify(prose)
    return str(language) if confidence >= MIN_CONFIDENCE else None


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@lru_cache(maxsize=64)
def _stop_words(codes: tuple[str, ...]) -> frozenset[str]:
    words: set[str] = set()
    for code in codes:
        words |= {w.casefold() for w in stopwordsiso.stopwords(code)}
    return frozenset(words)


@dataclass(frozen=True)
class Languages:
    """The export's languages (most messages first) and each message's own (None: unsure)."""

    codes: tuple[str, ...]
    per_message: tuple[str | None, ...]

    @property
    def stop_words(self) -> frozenset[str]:
        """Casefolded stop words of every detected language, English always included."""
        return _stop_words(tuple(sorted({ENGLISH, *self.codes})))

    def shares(self, indexes: Any) -> list[tuple[str, float]]:
        """Languages of the given messages with their share of those messages, largest first."""
        languages = [self.per_message[int(i)] for i in indexes]
        known = Counter(code for code in languages if code)
        total = max(len(languages), 1)
        return [(code, n / total) for code, n in
                sorted(known.items(), key=lambda kv: (-kv[1], kv[0]))]

    def summary(self) -> dict[str, Any]:
        """What `cluster_analysis.json` records: codes, names and how many messages each."""
        counts = Counter(code for code in self.per_message if code)
        return {"detected": [{"code": code, "name": language_name(code),
                              "messages": counts[code]} for code in self.codes],
                "unknown": sum(code is None for code in self.per_message)}


def detect_languages(texts: list[str]) -> Languages:
    """Each message's language, and the export's: those with enough of its messages."""
    per_message = tuple(message_language(text) for text in texts)
    counts = Counter(code for code in per_message if code)
    known = sum(counts.values())
    codes = tuple(code for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                  if n >= MIN_MESSAGES and n >= MIN_SHARE * known)
    return Languages(codes, per_message)
