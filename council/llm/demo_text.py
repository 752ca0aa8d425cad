"""Deterministic, persona-flavoured answers for the demo server.

The text is built from the request itself (the system prompt's persona, the question's own
words, the labelled answers a synthesizer is given), so each persona answers each question
differently and the same request always gets the same answer. It is obviously canned: the
demo shows the app's mechanics, not a model's intelligence.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from .demo_catalog import now_iso

# a model that answers with the question verbatim: hostile "model output" for the XSS tests
ECHO_MODEL = "echo"
# faults that strike mid-answer (reset, error, malformed) do so after this many tokens
TOKENS_BEFORE_FAULT = 3
STOPWORDS = frozenset("""a an and are as at be but by can could do does for from has have how i if
in into is it its me my of on or our should so that the their them then there these this to
was we were what when where which who why will with would you your about just like please
tell explain give""".split())

OPENINGS = (
    "From where I stand, {topic} comes down to a few things.",
    "Let me take {topic} apart piece by piece.",
    "Here is how I would think about {topic}.",
    "{topic} is worth slowing down for.",
    "My short answer on {topic}: it depends, and here is on what.",
)

LENSES = {
    "architect": ("Start with the boundaries: what owns {a}, and what only reads it?",
                  "Draw the data flow for {a} before touching {b}; the structure decides the rest.",
                  "Keep {a} and {b} in separate modules so either can change alone."),
    "skeptic": ("What evidence says {a} is really the problem, and not {b}?",
                "Reproduce it first: a failing case for {a} beats any theory about {b}.",
                "Check the assumption behind {b}; it is the likeliest thing to be wrong."),
    "explorer": ("What if {a} were not a constraint at all? Then {b} opens up.",
                 "An unusual angle: treat {a} as a feature and build {b} around it.",
                 "Try three quick sketches of {a} and keep whichever surprises you."),
    "pragmatist": ("Ship the smallest version of {a} this week and measure {b}.",
                   "The boring, proven option for {a} is usually right; save effort for {b}.",
                   "Write down what done means for {a}, then stop at done."),
    "general": ("Consider how {a} relates to {b}.",
                "The key trade-off is between {a} and {b}.",
                "A concrete next step: look at {a} with {b} in mind."),
}

CLOSINGS = (
    "That is my take; weigh it against the others.",
    "If you share more about {topic}, I can be more specific.",
    "In short: focus on {a} first.",
)


def _keywords(text: str, limit: int = 4) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9'+-]{2,}", text.lower())
    seen: list[str] = []
    for word in words:
        if word not in STOPWORDS and word not in seen:
            seen.append(word)
    longest_first = sorted(seen, key=len, reverse=True)[:limit]
    return longest_first or ["the question", "the context"]


def _lens(system_prompt: str) -> str:
    lowered = system_prompt.lower()
    for name in LENSES:
        if name in lowered:
            return name
    return "general"


def _persona_name(system_prompt: str) -> str | None:
    match = re.search(r"\byou are (?:the |an? )?([A-Z][\w-]*(?: [A-Z][\w-]*)?)", system_prompt)
    return match.group(1) if match else None


def compose_answer(messages: list[dict[str, str]], model: str) -> str:
    """The demo model's full answer to a chat request."""
    system = "\n".join(m.get("content", "") for m in messages if m.get("role") == "system")
    user_turns = [m.get("content", "") for m in messages if m.get("role") == "user"]
    question = user_turns[-1] if user_turns else ""
    if model.split(":", 1)[0] == ECHO_MODEL:
        return question
    seed = hashlib.sha256(f"{model}\n{system}\n{question}".encode()).digest()
    rng = random.Random(seed)

    reviewed = re.findall(r"^Response ([A-Z]):$", question, flags=re.M)
    if reviewed and "FINAL RANKING" in question:
        return _compose_review(reviewed, rng)
    labelled = re.findall(r"^### (.+?)(?: \(weight [^)]*\))?$", question, flags=re.M)
    if labelled:
        return _compose_synthesis(question, labelled, rng)

    words = _keywords(question.split("\n", 1)[0] if question else question)
    topic = " and ".join(words[:2])
    a, b = words[0], words[min(1, len(words) - 1)]
    name = _persona_name(system)
    parts = [f"**{name}:** " if name else ""]
    opening = rng.choice(OPENINGS).format(topic=topic)
    parts.append(opening[0].upper() + opening[1:])
    lens = LENSES[_lens(system)]
    for sentence in rng.sample(lens, k=2):
        parts.append(" " + sentence.format(a=a, b=b))
    if len(user_turns) > 1:
        parts.append(f" Building on what we said about {_keywords(user_turns[-2], 1)[0]}, "
                     f"this still holds.")
    parts.append(" " + rng.choice(CLOSINGS).format(topic=topic, a=a))
    return "".join(parts)


def _compose_synthesis(question: str, names: list[str], rng: random.Random) -> str:
    asked = re.search(r"^Question:\s*(.+)$", question, flags=re.M)
    words = _keywords(asked.group(1) if asked else question)
    topic = " and ".join(words[:2])
    lead, *others = names
    last_step = rng.choice(("test it on a small case", "write the decision down",
                            "review it in a week"))
    agreed = ", ".join(others) if others else "no one else"
    return (f"## Council answer on {topic}\n\n"
            f"The council mostly agrees. {lead} gives the clearest starting point, and "
            f"{agreed} add useful angles.\n\n"
            f"- First, pin down {words[0]}.\n"
            f"- Then weigh the trade-offs the answers raise about {words[-1]}.\n"
            f"- Finally, {last_step}.\n\n"
            f"Where they disagree, prefer the more concrete advice.")


def _compose_review(letters: list[str], rng: random.Random) -> str:
    order = list(letters)
    rng.shuffle(order)
    notes = " ".join(f"Response {letter} is {rng.choice(('clear', 'thin', 'practical', 'vague'))}."
                     for letter in letters)
    return f"{notes}\n\nFINAL RANKING: {', '.join(order)}"


def tokenize(text: str) -> list[str]:
    """Split into word-sized tokens that concatenate back to the exact text."""
    return re.findall(r"\s*\S+|\s+$", text)


def answer_part(model: str, chat: bool, text: str) -> dict[str, Any]:
    """One streamed part of a chat (`message`) or generate (`response`) answer."""
    part: dict[str, Any] = {"model": model, "created_at": now_iso(), "done": False}
    if chat:
        part["message"] = {"role": "assistant", "content": text}
    else:
        part["response"] = text
    return part


@dataclass
class Answer:
    """One chat or generate request's canned answer, and what its stats need."""

    model: str
    chat: bool
    tokens: list[str]
    done_reason: str
    prompt_tokens: int
    fault: str | None
    key: tuple[str, str]  # (system prompt, question), for the token log
    started: int = field(default_factory=time.perf_counter_ns)
    load_ns: int = 0

    @classmethod
    def of(cls, body: dict[str, Any], model: str, chat: bool, fault: str | None) -> Answer:
        if chat:
            messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        else:
            messages = [{"role": "system", "content": body.get("system") or ""},
                        {"role": "user", "content": body.get("prompt") or ""}]
        text = compose_answer(messages, model)
        if fault == "ignore_format":
            text = "\n".join(line for line in text.splitlines() if "FINAL RANKING" not in line)
        tokens = tokenize(text)
        limit = (body.get("options") or {}).get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, done_reason = tokens[:limit], "length"
        key = (next((str(m.get("content", "")) for m in messages if m.get("role") == "system"),
                    ""),
               next((str(m.get("content", "")) for m in reversed(messages)
                     if m.get("role") == "user"), ""))
        return cls(model, chat, tokens, done_reason,
                   sum(len(str(m.get("content", "")).split()) for m in messages), fault, key)
