"""Generate a system prompt for each discovered persona.

The local synthesizer model writes it from the cluster's patterns and representative messages,
through the same LLM backend as the council (greedy, with a fixed seed). When no model is
reachable, or what it wrote fails the checks (too short or long, chat-template tokens, the
request echoed back, written as the user, one sentence over and over), a template built from
the same analysis is used and marked as such: it says the mode's way of working in the words a
person would use to brief a colleague.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ..atomic import write_json_atomic
from ..llm.base import ChatBackend
from .languages import ENGLISH, language_name
from .roles import MODE_BY_KEY
from .traits_lines import MIN_SHARE
from .writer import complete

MIN_PROMPT_CHARS = 40
MAX_PROMPT_CHARS = 3000
PROMPT_TOKENS = 400
# What only a confused model writes into a system prompt: chat-template tokens, the request.
ECHOES = ("<|", "</s>", "[INST]", "Representative messages from the user:", "Patterns:\n")

WRITER_INSTRUCTIONS = """You write system prompts for AI advisor personas. Each persona is one \
"mode" of the same person's thinking, discovered from their own chat history. Write the system \
prompt for the persona described below: second person ("You are ..."), under 180 words, saying \
how it thinks, what it pays attention to and how it answers. Reply with the prompt only."""


class ClusterLike(Protocol):
    name: str
    slug: str
    size: int
    keywords: list[str]
    characteristics: list[str]
    representatives: list[str]
    mode: str
    domain: str
    traits: dict[str, Any]


@dataclass(frozen=True)
class GeneratedPrompt:
    name: str
    slug: str
    description: str
    system_prompt: str
    source: str               # "llm" or "template"
    model: str | None
    note: str | None          # why the template was used, when it was


def describe(cluster: ClusterLike) -> str:
    """One line for the persona manager: what this mode is about."""
    keywords = ", ".join(cluster.keywords[:5])
    return f"Discovered from {cluster.size} of your messages about {keywords}."


def _language_advice(cluster: ClusterLike) -> str:
    others = [language_name(code) for code, share in cluster.traits.get("languages", [])
              if code != ENGLISH and share >= MIN_SHARE]
    if not others:
        return ""
    return (f" The user often writes in {' and '.join(others)} here: answer in the language "
            f"of the question.")


def template_prompt(cluster: ClusterLike, note: str | None = None) -> GeneratedPrompt:
    """A prompt built only from the analysis: always available, clearly marked."""
    mode = MODE_BY_KEY.get(cluster.mode)
    name = cluster.name[:1].lower() + cluster.name[1:] if cluster.name.startswith("The ") \
        else cluster.name
    habit = f": the side of the user that {mode.habit[0].lower()}{mode.habit[1:]}" if mode \
        else ": one mode of the user's own thinking"
    about = f", about {cluster.domain}" if cluster.domain else ""
    traits = "\n".join(f"- {line}" for line in cluster.characteristics)
    prompt = (f"You are {name}{habit}. You were found in {cluster.size} of their own "
              f"messages{about}.\n"
              + (f"{mode.guidance}\n" if mode else "")
              + f"What the user is like in this mode:\n{traits}\n"
              f"Stay with what they are working on, answer the way they ask, and be concrete "
              f"and brief.{_language_advice(cluster)}")
    return GeneratedPrompt(cluster.name, cluster.slug, describe(cluster), prompt, "template",
                           None, note)


def _writer_request(cluster: ClusterLike) -> str:
    examples = "\n".join(f"- {text[:300]}" for text in cluster.representatives[:5])
    traits = "\n".join(f"- {line}" for line in cluster.characteristics)
    return (f"Persona name: {cluster.name}\nKeywords: {', '.join(cluster.keywords[:10])}\n"
            f"Patterns:\n{traits}\nRepresentative messages from the user:\n{examples}")


def _without_heading(text: str, name: str) -> str:
    """The prompt without a first line that only repeats the persona's name."""
    first, _, rest = text.partition("\n")
    return rest.strip() if first.strip("#*_ ").strip() == name else text


def prompt_problem(text: str) -> str | None:
    """Why a model's system prompt is not usable, or None."""
    if len(text) < MIN_PROMPT_CHARS:
        return "answered with too little text"
    if len(text) > MAX_PROMPT_CHARS:
        return f"wrote more than {MAX_PROMPT_CHARS} characters"
    echo = next((e for e in ECHOES if e in text), None)
    if echo:
        return f"wrote {echo.strip()!r} into the prompt"
    if re.match(r"I\b|I'm\b", text):
        return "wrote as the user (\"I ...\") instead of to the persona"
    pieces = Counter(re.sub(r"\d+", "#", p.strip().casefold())  # "idea 5", "idea 4": alike
                     for p in re.split(r"(?<=[.!?])\s+|\n+", text) if len(p.strip()) >= 15)
    if pieces and pieces.most_common(1)[0][1] >= 3:
        return "wrote the same sentence again and again"
    return None


def generate_prompt(cluster: ClusterLike, backend: ChatBackend | None, model: str,
                    seed: int = 0, tokens: int = PROMPT_TOKENS) -> GeneratedPrompt:
    """Ask the model for a prompt; fall back to the template and say why."""
    if backend is None:
        return template_prompt(cluster, "no language model was configured")
    messages = [{"role": "system", "content": WRITER_INSTRUCTIONS},
                {"role": "user", "content": _writer_request(cluster)}]
    written = complete(backend, model, messages, tokens, seed)
    if written.text is None:
        return template_prompt(cluster, written.problem)
    text = _without_heading(written.text.strip().strip("`").strip(), cluster.name)
    problem = prompt_problem(text)
    if problem:
        return template_prompt(cluster, f"{model} {problem}")
    return GeneratedPrompt(cluster.name, cluster.slug, describe(cluster), text, "llm", model, None)


def write_generated_prompts(prompts: list[GeneratedPrompt], path: Path) -> None:
    """`prompts/generated_prompts.json`, written atomically."""
    data: dict[str, Any] = {"personas": [asdict(p) for p in prompts]}
    write_json_atomic(path, data)
