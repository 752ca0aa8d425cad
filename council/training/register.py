"""Serve a persona's adapter: in the embedded engine, through Ollama or through vLLM; switch.

- Embedded engine (`register_embedded`): the GGUF adapter is applied per request beside the
  engine's one copy of the base weights; registration exports it and measures on llama.cpp
  how well the held-out answers are predicted with it and without.
- Ollama (`register_adapter`): a model `persona-<slug>` built from the worker base plus the
  adapter blob (`create_blob`, then `create(from_=base, adapters={...})`, official client).
  Ollama keeps one adapter per loaded base, so several adapter personas take turns.
- vLLM (`load_vllm_adapter`): the PEFT folder loaded at runtime; all served at once.

`persona.model` stays the prompt-only model, so rounds can run a persona either way
(`variant`, see council/variants.py) for the A/B on the leaderboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import ollama

from ..llm.base import LLMError
from ..llm.ollama_backend import translated_errors
from ..models import Persona
from ..redact import redact_credentials
from ..variants import VARIANTS, has_adapter_file
from .gguf_export import export_gguf_adapter
from .llama_eval import HeldOutLoss, held_out_loss


class RegistrationError(RuntimeError):
    """The adapter could not be registered; the message says how to fix it."""


@dataclass(frozen=True)
class Registration:
    model: str
    digest: str
    base: str


def adapter_model_name(slug: str) -> str:
    return f"persona-{slug}"


def register_embedded(slug: str, base_gguf: Path, adapter_dir: Path, target: Path,
                      conversations: list[list[dict[str, str]]]) -> tuple[Registration,
                                                                           HeldOutLoss]:
    """Export the adapter to `target` and measure it on llama.cpp with the base it serves on."""
    exported = export_gguf_adapter(adapter_dir, target, str(base_gguf))
    try:
        loss = held_out_loss(base_gguf, exported.path, conversations)
    except (ValueError, LLMError) as exc:
        raise RegistrationError(str(exc)) from None
    return Registration(str(exported.path), "", str(base_gguf)), loss


def register_adapter(host: str, slug: str, base_model: str, gguf_path: Path,
                     timeout: float = 600.0) -> Registration:
    """Upload `gguf_path` as a blob and create `persona-<slug>` from `base_model` with it."""
    if not gguf_path.is_file():
        raise RegistrationError(f"{gguf_path} does not exist: export the adapter first.")
    name = adapter_model_name(slug)
    with ollama.Client(host=host, timeout=timeout) as client, translated_errors(redact_credentials(host), base_model):
        digest = client.create_blob(gguf_path)
        client.create(model=name, from_=base_model, adapters={gguf_path.name: digest},
                      stream=False)
    return Registration(name, digest, base_model)


def load_vllm_adapter(base_url: str, api_key: str, slug: str, adapter_dir: Path,
                      timeout: float = 120.0) -> Registration:
    """Have a vLLM server (`--enable-lora`) serve the PEFT folder as `persona-<slug>`.

    Uses vLLM's runtime endpoint (needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); an adapter of
    that name already loaded (a retrain) is unloaded and loaded again.
    """
    name = adapter_model_name(slug)
    body = {"lora_name": name, "lora_path": str(adapter_dir.resolve())}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base = base_url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout, headers=headers) as client:
            response = client.post(f"{base}/load_lora_adapter", json=body)
            if response.status_code == 400 and "already" in response.text:
                client.post(f"{base}/unload_lora_adapter", json={"lora_name": name})
                response = client.post(f"{base}/load_lora_adapter", json=body)
    except httpx.HTTPError as exc:
        raise RegistrationError(f"Cannot reach the OpenAI-compatible server at {base}: {exc}. "
                                "Start vLLM with --enable-lora.") from None
    if response.status_code in (404, 405):
        raise RegistrationError(
            f"{base} cannot load adapters at runtime. Start vLLM with --enable-lora and "
            f"VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, or add --lora-modules {name}="
            f"{body['lora_path']} to its command line.")
    if response.status_code >= 400:
        raise RegistrationError(f"{base} refused the adapter (HTTP {response.status_code}): "
                                f"{response.text[:300]}")
    return Registration(name, "", "vllm")


def switch_persona_model(persona: Persona, registration: Registration) -> None:
    """Answer through the adapter from now on; `persona.model` stays the prompt-only model."""
    persona.adapter_model = registration.model
    persona.variant = "lora"


def set_variant(persona: Persona, variant: str) -> None:
    """Run the persona as "lora" (its adapter), "mix" (the router's mix of adapters, embedded
    engine) or "prompt" (its system prompt alone)."""
    if variant not in VARIANTS:
        raise RegistrationError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    if variant != "prompt" and not persona.adapter_model:
        raise RegistrationError(f"{persona.name} has no adapter yet: train and register one "
                                "on the Training page first.")
    if variant == "mix" and not has_adapter_file(persona):
        raise RegistrationError("Mixing adapters needs the embedded engine, which applies "
                                "several adapter files at once; Ollama and vLLM serve one "
                                "adapter per request.")
    persona.variant = variant
