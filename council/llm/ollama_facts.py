"""What one Ollama server says about the models a council needs: which runners are loaded now
(`/api/ps`), each model's size (`/api/tags`) and attention shape (`/api/show` model_info).

Field names are Ollama's own (api/types.go, v0.33.0-rc2: `ProcessModelResponse`,
`ListModelResponse`, `ShowResponse.model_info`). A model the server lacks, or a question it
does not answer, leaves that fact unknown; `ollama_fit` says which part of its estimate is
missing rather than inventing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
import ollama

from .ollama_fit import Loaded, ModelFacts, kv_per_token
from .served import full_name


@dataclass(frozen=True)
class ServerFacts:
    loaded: tuple[Loaded, ...] = ()
    models: dict[str, ModelFacts] = field(default_factory=dict)
    error: str | None = None  # why the server could not be asked


def read_facts(client: ollama.Client, models: Iterable[str]) -> ServerFacts:
    """Ask the server once for what is loaded and what it has, then about each of `models`."""
    try:
        loaded = tuple(Loaded(m.name or m.model or "", m.size or 0, m.context_length)
                       for m in client.ps().models)
        sizes = {full_name(m.model or ""): m.size for m in client.list().models}
        facts = {model: _model_facts(client, model, sizes.get(full_name(model)))
                 for model in models}
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
        return ServerFacts(error=f"{type(exc).__name__}: {exc}")
    return ServerFacts(loaded, facts)


def _model_facts(client: ollama.Client, model: str, size: int | None) -> ModelFacts:
    if size is None:
        return ModelFacts()  # not pulled: /api/show would only say "not found"
    try:
        info = dict(client.show(model).modelinfo or {})
    except ollama.ResponseError:
        return ModelFacts(weights=size)
    context = info.get(f"{info.get('general.architecture')}.context_length")
    return ModelFacts(size, kv_per_token(info), context if isinstance(context, int) else None)
