"""Serve a persona's adapter: in the embedded engine, through Ollama or through vLLM; switch.

- Embedded engine (`register_embedded`): the GGUF adapter is applied per request beside the
  engine's one copy of the base weights; registration exports it and measures on llama.cpp
  how well the held-out answers (the eval split, never the training pairs) are predicted with
  it and without.
- Ollama (ollama_register.py): `persona-<slug>` on every worker server, with the adapter or,
  where a server refuses that or its model cannot answer, as a merged model of its own.
- vLLM (`load_vllm_adapter`): the PEFT folder loaded at runtime; all served at once.

`persona.model` stays the prompt-only model, so rounds can run a persona either way
(`variant`, see council/variants.py) for the A/B on the leaderboard; `persona.adapter_served`
records what was registered and verified where, which is all a round presents as LoRA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ..llm.base import LLMError
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
    base: str
    # what was verified where: {"engine", "model", "servers": [{"host", "method", ...}],
    # "verified_at"}; stored on the persona (`adapter_served`)
    record: dict[str, Any]


def served_record(engine: str, model: str, servers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"engine": engine, "model": model, "servers": servers,
            "verified_at": datetime.now(UTC).isoformat()}


def adapter_model_name(slug: str) -> str:
    return f"persona-{slug}"


def register_embedded(slug: str, base_gguf: Path, adapter_dir: Path, target: Path,
                      held_out: list[list[dict[str, str]]]) -> tuple[Registration,
                                                                      HeldOutLoss | None]:
    """Export the adapter to `target` and measure it on llama.cpp with the base it serves on,
    on the `held_out` pairs only: with none (no eval split) there is no figure, since a loss
    on pairs the adapter trained on says how well it memorised them, not how it answers."""
    exported = export_gguf_adapter(adapter_dir, target, str(base_gguf))
    loss = None
    if held_out:
        try:
            loss = held_out_loss(base_gguf, exported.path, held_out)
        except (ValueError, LLMError) as exc:
            raise RegistrationError(str(exc)) from None
    record = served_record("embedded", str(exported.path), [{"method": "file"}])
    return Registration(str(exported.path), str(base_gguf), record), loss


def load_vllm_adapter(base_urls: tuple[str, ...], api_key: str, slug: str, adapter_dir: Path,
                      timeout: float = 120.0) -> Registration:
    """Have every vLLM server (`--enable-lora`) serve the PEFT folder as `persona-<slug>`.

    Uses vLLM's runtime endpoint (needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); an adapter of
    that name already loaded (a retrain) is unloaded and loaded again.
    """
    name = adapter_model_name(slug)
    body = {"lora_name": name, "lora_path": str(adapter_dir.resolve())}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    servers = []
    with httpx.Client(timeout=timeout, headers=headers) as client:
        for base_url in base_urls:
            base = base_url.rstrip("/")
            _load_into(client, base, body)
            servers.append({"host": redact_credentials(base), "method": "runtime"})
    return Registration(name, "vllm", served_record("openai", name, servers))


def _load_into(client: httpx.Client, base: str, body: dict[str, str]) -> None:
    name = body["lora_name"]
    try:
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


def switch_persona_model(persona: Persona, registration: Registration) -> None:
    """Answer through the adapter from now on; `persona.model` stays the prompt-only model."""
    persona.adapter_model = registration.model
    persona.adapter_served = registration.record
    persona.variant = "lora"


def keep_prompt_only(persona: Persona) -> None:
    """After a registration that served nothing that answers: the persona's earlier model was
    replaced or removed on the servers, so nothing of it is used any more."""
    persona.adapter_model = None
    persona.adapter_served = None
    persona.variant = "prompt"


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
