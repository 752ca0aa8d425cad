"""Serve a persona's adapter through Ollama: upload the GGUF, create `persona-<slug>`, switch.

Ollama builds the model from the worker base plus the adapter blob (`create_blob`, then
`create(from_=base, adapters={...})` through the official client). The persona's previous model
is kept in `prompt_model` so the Training page can switch back, and rounds can run the persona
either way (`variant`: "lora" or "prompt") for the A/B on the leaderboard.

Ollama keeps one adapter per base model loaded at a time, so several adapter personas take
turns on one GPU; vLLM with `--enable-lora` serves them concurrently (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ollama
from ..llm.ollama_backend import translated_errors
from ..models import Persona


class RegistrationError(RuntimeError):
    """The adapter could not be registered; the message says how to fix it."""


@dataclass(frozen=True)
class Registration:
    model: str
    digest: str
    base: str


def adapter_model_name(slug: str) -> str:
    return f"persona-{slug}"


def register_adapter(host: str, slug: str, base_model: str, gguf_path: Path,
                     timeout: float = 600.0) -> Registration:
    """Upload `gguf_path` as a blob and create `persona-<slug>` from `base_model` with it."""
    if not gguf_path.is_file():
        raise RegistrationError(f"{gguf_path} does not exist: export the adapter first.")
    name = adapter_model_name(slug)
    with ollama.Client(host=host, timeout=timeout) as client, translated_errors(host, base_model):
        digest = client.create_blob(gguf_path)
        client.create(model=name, from_=base_model, adapters={gguf_path.name: digest},
                      stream=False)
    return Registration(name, digest, base_model)


def switch_persona_model(persona: Persona, registration: Registration) -> None:
    """Answer through the adapter from now on; `persona.model` stays the prompt-only model."""
    persona.adapter_model = registration.model
    persona.variant = "lora"


def set_variant(persona: Persona, variant: str) -> None:
    """Run the persona as "lora" (its adapter model) or "prompt" (its prompt-only model)."""
    if variant not in ("lora", "prompt"):
        raise RegistrationError(f"variant must be 'lora' or 'prompt', not {variant!r}")
    if variant == "lora" and not persona.adapter_model:
        raise RegistrationError(f"{persona.name} has no adapter yet: train and register one "
                                "on the Training page first.")
    persona.variant = variant
