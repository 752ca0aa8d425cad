"""Generate a system prompt for each discovered persona.

The local synthesizer model writes it from the cluster's patterns and representative messages,
through the same LLM backend as the council. When no model is reachable (or it answers with too
little), a deterministic template built from the same analysis is used and marked as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ..atomic import write_json_atomic
from ..llm.base import ChatBackend, LLMError

MIN_PROMPT_CHARS = 40

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


def template_prompt(cluster: ClusterLike, note: str | None = None) -> GeneratedPrompt:
    """A prompt built only from the analysis: always available, clearly marked."""
    traits = "\n".join(f"- {line}" for line in cluster.characteristics)
    prompt = (f"You are {cluster.name}, one mode of the user's own thinking, discovered from "
              f"their conversations about {', '.join(cluster.keywords[:6])}.\n"
              f"How the user thinks in this mode:\n{traits}\n"
              f"Answer as this mode would: stay on these interests, match this style, and be "
              f"concrete and brief.")
    return GeneratedPrompt(cluster.name, cluster.slug, describe(cluster), prompt, "template",
                           None, note)


def _writer_request(cluster: ClusterLike) -> str:
    examples = "\n".join(f"- {text[:300]}" for text in cluster.representatives[:5])
    traits = "\n".join(f"- {line}" for line in cluster.characteristics)
    return (f"Persona name: {cluster.name}\nKeywords: {', '.join(cluster.keywords[:10])}\n"
            f"Patterns:\n{traits}\nRepresentative messages from the user:\n{examples}")


def generate_prompt(cluster: ClusterLike, backend: ChatBackend | None,
                    model: str) -> GeneratedPrompt:
    """Ask the model for a prompt; fall back to the template and say why."""
    if backend is None:
        return template_prompt(cluster, "no language model was configured")
    messages = [{"role": "system", "content": WRITER_INSTRUCTIONS},
                {"role": "user", "content": _writer_request(cluster)}]
    try:
        text = "".join(chunk for chunk in backend.stream_chat(
            model, messages, {"temperature": 0.3, "num_predict": 400})
            if isinstance(chunk, str)).strip()
    except LLMError as exc:
        return template_prompt(cluster, f"{model} was not reachable: {exc}")
    if len(text) < MIN_PROMPT_CHARS:
        return template_prompt(cluster, f"{model} answered with too little text")
    return GeneratedPrompt(cluster.name, cluster.slug, describe(cluster), text, "llm", model, None)


def write_generated_prompts(prompts: list[GeneratedPrompt], path: Path) -> None:
    """`prompts/generated_prompts.json`, written atomically."""
    data: dict[str, Any] = {"personas": [asdict(p) for p in prompts]}
    write_json_atomic(path, data)
