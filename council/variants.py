"""How a persona answers this round: its prompt alone, its own LoRA adapter, or the router's mix.

A persona asks for a variant (`Persona.variant`); what it gets depends on what the backend can
serve, and the round records what was really served, so the leaderboard's A/B table compares
what the user saw:

- `prompt`: the persona's system prompt on its model.
- `lora`: its adapter too. With the embedded engine the adapter is a GGUF file applied per
  request (`adapter_model` ends in `.gguf`); with Ollama or vLLM it is a model of its own on
  the server (`persona-<slug>`: with its adapter, or merged into its base where the server
  refused the adapter), used only where registration verified it (`Persona.adapter_served`):
  on the same kind of backend, on every server a worker may be sent to. Anything else answers
  `prompt`, and is recorded so.
- `mix` (embedded engine only): Σ wᵢ·LoRAᵢ over every persona adapter on the same base, each
  scaled by the router's weight wᵢ for this message, so one answer leans on several trained
  personas as much as the router trusts each of them for this question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import Persona

if TYPE_CHECKING:  # the router's decisions are only read here; importing it loads the models
    from .llm.base import ChatBackend
    from .router import RouteDecision

VARIANTS = ("prompt", "lora", "mix")


@dataclass(frozen=True)
class Serving:
    """What the workers' backend is: its kind, whether it applies adapter files per request,
    and the servers a request may go to."""

    kind: str
    applies_adapters: bool
    hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, backend: ChatBackend) -> Serving:
        servers = getattr(backend, "servers", None)
        hosts = tuple(s.host for s in servers) if servers is not None else (backend.host,)
        return cls(backend.kind, backend.applies_adapters, hosts)


@dataclass(frozen=True)
class AnswerPlan:
    model: str
    variant: str
    # [{"persona": slug, "path": adapter GGUF, "scale": weight}] for the embedded engine
    adapters: list[dict[str, Any]] = field(default_factory=list)


def has_adapter_file(persona: Persona) -> bool:
    return bool(persona.adapter_model and persona.adapter_model.endswith(".gguf"))


def adapter_model_served(persona: Persona, serving: Serving) -> bool:
    """Whether `persona-<slug>` was registered and verified on every server of `serving`."""
    record = persona.adapter_served or {}
    if record.get("engine") != serving.kind or record.get("model") != persona.adapter_model:
        return False
    verified = {server.get("host") for server in record.get("servers") or []}
    return bool(serving.hosts) and set(serving.hosts) <= verified


def plan_answer(persona: Persona, decisions: list[RouteDecision], serving: Serving,
                worker_model: str) -> AnswerPlan:
    """The model, variant and adapters `persona` answers with on this backend, given the
    router's `decisions` for the message (the weights a mix uses)."""
    base = persona.model or worker_model
    wanted = persona.current_variant
    if wanted == "lora" and has_adapter_file(persona) and serving.applies_adapters:
        return AnswerPlan(base, "lora", [{"persona": persona.slug, "path": persona.adapter_model,
                                          "scale": 1.0}])
    if wanted == "lora" and adapter_model_served(persona, serving):
        return AnswerPlan(persona.adapter_model or base, "lora")
    if wanted == "mix" and serving.applies_adapters:
        adapters = [{"persona": d.persona.slug, "path": d.persona.adapter_model,
                     "scale": d.weight}
                    for d in decisions
                    if has_adapter_file(d.persona) and d.persona.model == persona.model
                    and d.weight > 0]
        if adapters:
            return AnswerPlan(base, "mix", adapters)
    return AnswerPlan(base, "prompt")


def adapters_shown(options: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The adapters an answer used, as the browser shows them (persona and scale, no paths)."""
    return [{"persona": a["persona"], "scale": round(float(a["scale"]), 4)}
            for a in (options or {}).get("adapters") or []]
