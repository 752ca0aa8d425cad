"""A cluster's traits as the lines a person would write about a friend's habits.

Only what matters is said: a share below MIN_SHARE of the cluster's messages is left out, and
shares read as words ("in about a third of the messages"), not as "(1%)".
"""

from __future__ import annotations

from typing import Any

from .languages import ENGLISH, language_name
from .roles import MODE_BY_KEY

MIN_SHARE = 0.2
MAX_LINES = 6
MENTIONS = "Often mentions "  # the line of keywords, always the last
TOPIC_WORDS = {"programming": "programming", "data_ml": "data and machine learning",
               "writing": "writing", "business": "business and work",
               "science_math": "science and maths", "learning": "learning and studying",
               "personal": "personal life", "creative": "creative work"}
QUESTION_HABITS = {"how": "Asks how to do things", "why": "Asks why things happen",
                   "what": "Asks what things are", "what_if": "Asks what-if questions",
                   "should_i": "Asks whether to do something (should I …?)",
                   "compare": "Asks which option is better",
                   "request": "Gives direct instructions"}
REASONING_HABITS = {"because": "Explains the reasons behind a question",
                    "therefore": "Draws conclusions out loud",
                    "step_by_step": "Thinks step by step",
                    "compare": "Compares options", "hypothesis": "Tries out hunches",
                    "trade_off": "Weighs trade-offs", "example": "Gives examples",
                    "evidence": "Asks for evidence"}
TONE_HABITS = {"technical": "Writes in technical terms", "casual": "Writes casually",
               "formal": "Writes formally", "exploratory": "Thinks out loud"}


def portion(share: float) -> str:
    """A share in words."""
    if share >= 0.85:
        return "in almost every message"
    if share >= 0.6:
        return "in most messages"
    if share >= 0.4:
        return "in about half of the messages"
    if share >= 0.28:
        return "in about a third of the messages"
    if share >= 0.22:
        return "in about a quarter of the messages"
    return "in about one message in five"


def _first(pairs: list[list[Any]]) -> tuple[str, float]:
    return (str(pairs[0][0]), float(pairs[0][1])) if pairs else ("", 0.0)


def _mode_lines(traits: dict[str, Any]) -> list[str]:
    lines = []
    for i, (key, share) in enumerate(traits["modes"][:2]):
        if share < MIN_SHARE:
            continue
        habit = MODE_BY_KEY[key].habit
        lines.append(f"{habit} ({portion(share)})" if i == 0
                     else f"Also {habit[0].lower()}{habit[1:]} ({portion(share)})")
    return lines


def _language_line(traits: dict[str, Any]) -> list[str]:
    shown = [(code, share) for code, share in traits["languages"] if share >= MIN_SHARE]
    if not shown or [code for code, _ in shown] == [ENGLISH]:
        return []
    names = [language_name(code) for code, _ in shown]
    if len(names) == 1:
        return [f"Writes {'mostly ' if shown[0][1] < 0.85 else ''}in {names[0]}"]
    return [f"Writes in {', '.join(names[:-1])} and {names[-1]}"]


def _habit_lines(traits: dict[str, Any]) -> list[str]:
    lines = []
    topic, share = _first(traits["topics"])
    if topic in TOPIC_WORDS and share >= MIN_SHARE:
        lines.append(f"{'Mostly' if share >= 0.5 else 'Often'} about {TOPIC_WORDS[topic]}")
    question, share = _first(traits["question_types"])
    if share >= MIN_SHARE:
        lines.append(f"{QUESTION_HABITS.get(question, 'Asks ' + question)} ({portion(share)})")
    if traits["code_share"] >= MIN_SHARE:
        lines.append(f"Pastes code or error output ({portion(traits['code_share'])})")
    lines += _language_line(traits)
    marker, share = _first(traits.get("reasoning", []))
    if share >= MIN_SHARE:
        lines.append(f"{REASONING_HABITS.get(marker, marker)} ({portion(share)})")
    tone, share = _first(traits["tones"])
    if share >= 0.5:
        lines.append(TONE_HABITS.get(tone, f"Writes in a {tone} tone"))
    return lines


def _length_line(traits: dict[str, Any]) -> str:
    shares = {str(k): float(v) for k, v in traits["length"]}
    if shares.get("long", 0.0) >= 0.3:
        return "Writes long, detailed messages"
    if shares.get("short", 0.0) >= 0.6:
        return "Keeps messages short"
    return "Writes messages of a few sentences"


def distinct_terms(terms: list[str], count: int = 5) -> list[str]:
    """Up to `count` of the terms, no word said twice: a pair stands in for the words it is
    made of ("missing data", not "missing, data, missing data")."""
    chosen: list[str] = []
    for term in terms:
        paired = {w for t in chosen if " " in t for w in t.split()}
        if term in chosen or paired & set(term.split()):
            continue
        chosen = [t for t in chosen if t not in term.split()] + [term]
    return chosen[:count]


def characteristics(traits: dict[str, Any], keywords: list[str], size: int) -> list[str]:
    """3-6 lines: the modes, the habits that matter, and what the messages mention."""
    lines = (_mode_lines(traits) + _habit_lines(traits))[:MAX_LINES - 1]
    if keywords:
        lines.append(MENTIONS + ", ".join(distinct_terms(keywords)))
    fillers = [_length_line(traits), f"Seen in {size} of your messages"]
    while len(lines) < 3 and fillers:
        lines.append(fillers.pop(0))
    return lines[:MAX_LINES]
