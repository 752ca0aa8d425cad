"""Which models the backend serves now, whether a model name is one of them, and the fix if not.

The Status page (every model the council needs) and the persona manager (the models a persona
can pick, and personas whose model is missing) ask the same question, so it is answered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import BackendHealth, ChatBackend, LLMError, ModelInfo


def full_name(model: str) -> str:
    """Ollama's spelling of a model: `qwen2.5` is `qwen2.5:latest`."""
    return model if ":" in model else f"{model}:latest"


@dataclass(frozen=True)
class ServedModels:
    """The backend's health and model list, read once; `error` says why the list is missing."""

    health: BackendHealth
    models: list[ModelInfo]
    error: str | None

    @classmethod
    def of(cls, backend: ChatBackend) -> ServedModels:
        health = backend.health()
        if not health.reachable:
            return cls(health, [], health.error or f"{health.host} is not reachable")
        try:
            return cls(health, backend.list_models(), None)
        except LLMError as exc:
            return cls(health, [], str(exc))

    @property
    def listed(self) -> bool:
        """Whether the list is the backend's own (and so a name missing from it is missing)."""
        return self.error is None

    def has(self, model: str) -> bool:
        """Whether the backend can answer with `model` (a name, or a .gguf path for the
        embedded engine; a server that answers any name has them all)."""
        if self.health.details.get("any_model_name"):
            return True
        if self.health.kind == "embedded" and model.endswith(".gguf"):
            return Path(model).expanduser().is_file()
        return full_name(model) in {full_name(m.name) for m in self.models}

    def fix(self, model: str) -> str:
        """What to do so that the backend serves `model`."""
        if self.health.kind == "embedded":
            return (f"{model}: give the persona a .gguf path on this machine (or clear its model "
                    "field to use the worker model)")
        if self.health.kind == "openai":
            return (f"serve {model} on the OpenAI-compatible server "
                    f"(e.g. vllm serve ... --served-model-name {model})")
        return f"ollama pull {model}"
