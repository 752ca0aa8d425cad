"""The local model writes each persona's name and traits; the template's stay where it fails.

The synthesizer model (through the same backend as the council) is asked for a name of the
form "The Role (domain)" and for three lines on how the user works in that mode. What it
writes is kept only when it passes the same checks as the template (`vocabulary.name_problems`:
form, length, no stop word, markup or code; a name no other persona has; lines without
numbers, markup or code); otherwise the template's stays and the profile says why. Requests
are greedy (temperature 0) with a fixed seed, so one model writes the same names every run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ..llm.base import ChatBackend, ChatMessage, LLMError
from ..slugs import slugify
from .languages import language_name
from .naming import ClusterProfile
from .roles import MODE_BY_KEY
from .traits_lines import MENTIONS
from .vocabulary import NAME_RE, NAME_WORD_RE, is_code_shaped, name_problems

NAME_TOKENS = 24
TRAIT_TOKENS = 60
SAMPLE_MESSAGES, SAMPLE_CHARS = 3, 200
MIN_LINE_WORDS, MAX_LINE_WORDS, MAX_LINES = 3, 14, 3

NAME_INSTRUCTIONS = """You name ways of thinking found in a person's chat history. Reply \
with one name of the form: The Role (domain). The role says how the person works: the role \
given, or a sharper one; the domain says in one to three of the words they use what it is \
about, with no "and"."""
TRAIT_INSTRUCTIONS = """You describe ways of thinking found in a person's chat history. Reply \
with three short lines, one per line, each starting with a verb, about how the person thinks \
and asks in this mode. No numbers."""
# Worked examples before the real request: small models follow an example far better than an
# instruction. An answer that copies them is refused (its words are not the cluster's).
EXAMPLES = (
    ("How the person works in this mode: works through errors and things that don't work\n"
     "Role: Debugger\nWords they use: Flask, endpoint, gunicorn, logs\n"
     "Some of their messages:\n- Why does my Flask endpoint return 500 after deploying?",
     "The Debugger (Flask services)",
     "Asks for the exact error before anything else\nWants the cause explained, not only the "
     "fix\nPrefers the smallest change that works"),
    ("How the person works in this mode: weighs options before deciding\n"
     "Role: Decision Maker\nWords they use: house, mortgage, rent, Utrecht\n"
     "Some of their messages:\n- Should I buy a house in Utrecht or keep renting?",
     "The Decision Maker (house buying)",
     "Lists the options side by side\nWeighs costs against peace of mind\nWants a clear "
     "recommendation at the end"),
)


def _conversation(instructions: str, answer: int, asked: str) -> list[ChatMessage]:
    """The instructions, the worked examples (their `answer`-th field), then the request."""
    messages = [{"role": "system", "content": instructions}]
    for example in EXAMPLES:
        messages += [{"role": "user", "content": example[0]},
                     {"role": "assistant", "content": example[answer]}]
    return messages + [{"role": "user", "content": asked}]


@dataclass(frozen=True)
class ModelText:
    """Text a model wrote, or why there is none."""

    text: str | None
    problem: str | None = None


def complete(backend: ChatBackend, model: str, messages: list[ChatMessage], tokens: int,
             seed: int) -> ModelText:
    """One greedy request, joined; an unreachable or failing backend becomes a problem."""
    try:
        text = "".join(chunk for chunk in backend.stream_chat(
            model, messages, {"temperature": 0.0, "seed": seed, "num_predict": tokens})
            if isinstance(chunk, str))
    except LLMError as exc:
        return ModelText(None, f"{model} was not reachable: {exc}")
    return ModelText(text.strip())


def describe_for_model(profile: ClusterProfile) -> str:
    """What the model is told about a cluster: its mode and the template's role for it, its
    words and a few messages (not its topic: a small model copies "business and work")."""
    languages = ", ".join(language_name(code) for code, _ in profile.traits.get("languages", []))
    examples = "\n".join(f"- {' '.join(text.split())[:SAMPLE_CHARS]}"
                         for text in profile.representatives[:SAMPLE_MESSAGES])
    role = match["role"] if (match := NAME_RE.fullmatch(profile.name)) else \
        MODE_BY_KEY[profile.mode].role
    return (f"How the person works in this mode: {MODE_BY_KEY[profile.mode].habit.lower()}\n"
            f"Role: {role}\n"
            f"Words they use: {', '.join(profile.keywords[:6]) or 'none'}\n"
            + (f"Languages: {languages}\n" if languages else "")
            + f"Some of their messages:\n{examples}")


def _clean_name(text: str) -> str:
    """The name in the first line: the "The Role (domain)" in it, else the line without
    quotes, emphasis, a "Name:" label or a final full stop."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    found = NAME_RE.search(line)
    if found:
        return found.group(0)
    line = re.sub(r"^\s*(?:[-*#>\d.)]+\s*)?(?:name\s*:\s*)?", "", line, flags=re.IGNORECASE)
    line = line.strip().strip("\"'`*_").rstrip(".").strip()
    if line and not line.startswith("The "):
        line = "The " + line
    return " ".join(line.split())


def _ungrounded(name: str, asked: str) -> list[str]:
    """Domain words the request never used (the singular or plural of one it used counts):
    copied from an example or made up."""
    match = NAME_RE.fullmatch(name)
    said = {w.casefold() for w in re.findall(r"\w+", asked)}
    return [f"{word!r} is not in the messages" for word in
            NAME_WORD_RE.findall(match["domain"] if match else "")
            if not {word.casefold(), word.casefold().removesuffix("s"),
                    word.casefold() + "s"} & said]


def _trait_problems(lines: list[str]) -> list[str]:
    problems = []
    if len(lines) < MAX_LINES:
        problems.append(f"fewer than {MAX_LINES} lines")
    for line in lines:
        words = line.split()
        if not MIN_LINE_WORDS <= len(words) <= MAX_LINE_WORDS:
            problems.append(f"{line[:40]!r} is not {MIN_LINE_WORDS}-{MAX_LINE_WORDS} words")
        elif re.search(r"\d|[<>`#{}\[\]|]|:$", line) or any(is_code_shaped(w) for w in words):
            problems.append(f"{line[:40]!r} has numbers, markup or code")
    if len({line.casefold() for line in lines}) < len(lines):
        problems.append("lines repeat")
    elif len(lines) > 1 and len({" ".join(line.split()[:2]).casefold() for line in lines}) == 1:
        problems.append("every line starts the same way")
    copied = {ln.casefold() for example in EXAMPLES for ln in example[2].splitlines()}
    if any(line.casefold() in copied for line in lines):
        problems.append("lines copied from the example")
    return problems


def _clean_lines(text: str) -> list[str]:
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", ln).strip() for ln in text.splitlines()]
    return [ln.rstrip(".") for ln in lines if ln][:MAX_LINES]


def _note(what: str, model: str, text: str, problems: list[str]) -> str:
    return f"{model} wrote the {what} {text[:60]!r}; the template's was kept: " + \
        "; ".join(problems)


def _written_name(profile: ClusterProfile, text: str, asked: str, taken: set[str],
                  stop_words: frozenset[str], model: str) -> tuple[dict[str, Any], list[str]]:
    """The profile's changes for the model's name, or the note on why it was refused."""
    candidate = _clean_name(text)
    problems = name_problems(candidate, stop_words)
    if slugify(candidate) in taken - {profile.slug}:
        problems.append("another persona has that name")
    problems += _ungrounded(candidate, asked)
    if problems:
        return {}, [_note("name", model, text, problems)]
    match = NAME_RE.fullmatch(candidate)
    return {"name": candidate, "slug": slugify(candidate), "name_source": "llm",
            "domain": match["domain"] if match else profile.domain}, []


def _written_traits(profile: ClusterProfile, written: ModelText,
                    model: str) -> tuple[dict[str, Any], list[str]]:
    """The profile's changes for the model's traits lines (the keyword line kept), or why not."""
    lines = _clean_lines(written.text or "")
    problems = [written.problem] if written.problem else _trait_problems(lines)
    if problems:
        return {}, [_note("traits", model, written.text or "", problems)]
    mentions = [ln for ln in profile.characteristics if ln.startswith(MENTIONS)]
    return {"characteristics": lines + mentions, "traits_source": "llm"}, []


def write_with_model(profiles: list[ClusterProfile], backend: ChatBackend | None, model: str,
                     stop_words: frozenset[str], seed: int = 0) -> list[ClusterProfile]:
    """Profiles whose names and traits the model wrote where they pass the checks."""
    if backend is None:
        return [replace(p, notes=["no language model was configured"]) for p in profiles]
    taken = {p.slug for p in profiles}
    result = []
    for index, profile in enumerate(profiles):
        asked = describe_for_model(profile)
        name = complete(backend, model, _conversation(NAME_INSTRUCTIONS, 1, asked),
                        NAME_TOKENS, seed)
        if name.text is None:  # unreachable: the rest would only wait for the same answer
            return result + [replace(p, notes=[str(name.problem)]) for p in profiles[index:]]
        changes, notes = _written_name(profile, name.text, asked, taken, stop_words, model)
        if changes:
            taken = (taken - {profile.slug}) | {changes["slug"]}
        traits = complete(backend, model, _conversation(TRAIT_INSTRUCTIONS, 2, asked),
                          TRAIT_TOKENS, seed)
        trait_changes, trait_notes = _written_traits(profile, traits, model)
        result.append(replace(profile, notes=notes + trait_notes, **changes, **trait_changes))
    return result
