"""Serve a persona's adapter through Ollama, on every worker server, by trying what each serves.

On each server (ollama_serving.py): `persona-<slug>` from the worker model with the adapter as a
GGUF (gguf_export.py) first, whatever the version; if the server refuses it, or the model it
creates cannot answer, the adapter merged into its transformers base (merge.py), imported and
quantized to COUNCIL_OLLAMA_QUANTIZE. Adapter models share the worker model's weights (Ollama
keeps one adapter set per loaded base, so adapter personas take turns); each merged persona is a
whole model that Ollama loads on its own.

The server's version is only a hint for the plan shown before starting: a third-party report
says 0.34.1 refuses adapter models (the newest source we read, v0.33.0-rc2, accepts them), and
before 0.30 the Ollama-engine families fail an adapter model's first chat. What happened is
found by trying, and a model counts once it has answered. A persona is switched to its model
only when every worker server serves one; otherwise it stays prompt-only, the models this run
made are removed, and the outcome says why and what to do (`OllamaOutcome`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import ollama

from ..llm.base import LLMError
from ..llm.ollama_backend import translated_errors
from ..llm.ollama_versions import (
    LLAMA_SERVER_RUNNER,
    adapters_fail_to_load,
    normalise_quantize,
    reported_to_refuse_adapters,
)
from ..redact import redact_credentials
from ..units import human_size
from .merge import MergeError, MergeEstimate, estimate_merge
from .ollama_serving import (
    ALTERNATIVES,
    Artifacts,
    Progress,
    Target,
    TrainedAdapter,
    remove,
    serve_on,
)
from .register import Registration, RegistrationError, adapter_model_name, served_record

# bits per weight of what Ollama's importer writes: 2-D tensors as F16 when nothing is asked
# (""), else the quantize type (llama.cpp's K-quants and Q8_0 about these sizes)
BITS_PER_WEIGHT = {"": 16.0, "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5,
                   "Q4_K_S": 4.6, "Q4_K_M": 4.9, "Q4_K": 4.9}


def _quiet(stage: str, fraction: float) -> None:
    return None


@dataclass(frozen=True)
class ServerRoute:
    """One worker server, its version, and the worker model's architecture there (hints)."""

    url: str  # what the client connects to (may carry credentials)
    version: str | None
    family: str | None = None

    @property
    def host(self) -> str:
        return redact_credentials(self.url)

    @property
    def refusal_reported(self) -> bool:
        return reported_to_refuse_adapters(self.version)

    @property
    def adapter_fails(self) -> bool:
        return self.family is not None and adapters_fail_to_load(self.version, self.family)

    def describe(self) -> str:
        name = f"Ollama {self.version or '(version unknown)'} at {self.host}"
        if self.refusal_reported:
            return (f"{name}: reported to refuse adapter models (unconfirmed); the adapter is "
                    "offered first, a merged model if it is refused")
        if self.adapter_fails:
            return (f"{name}: its own engine runs {self.family} models and cannot apply an "
                    f"adapter before Ollama {'.'.join(map(str, LLAMA_SERVER_RUNNER))}, so the "
                    "adapter model is expected not to answer; a merged model then")
        return f"{name}: the adapter on the worker model, a merged model if it is refused"


@dataclass(frozen=True)
class OllamaPlan:
    """What registering will try on each server, what a merge would cost or why none can be
    made, and `problem` when nothing can be tried at all."""

    routes: tuple[ServerRoute, ...]
    merge: MergeEstimate | None
    problem: str | None
    quantize: str = ""
    merge_problem: str | None = None

    def merged_weights_bytes(self) -> int | None:
        """What one merged persona's weights take in Ollama's memory."""
        if self.merge is None:
            return None
        return int(self.merge.parameters * BITS_PER_WEIGHT[self.quantize] / 8)

    @property
    def merges(self) -> bool:
        """Whether a hint says some server will need the merged model."""
        return any(r.refusal_reported or r.adapter_fails for r in self.routes)

    def describe(self) -> str:
        """What the user reads before starting it (the Training page, the CLI's first line)."""
        if self.problem:
            return self.problem
        text = ("; ".join(route.describe() for route in self.routes)
                + ". Each model answers a short question before the persona uses it.")
        weights = self.merged_weights_bytes()
        if self.merge is not None and weights is not None:
            text += (f" {'Merging' if self.merges else 'A merge, if needed'}: "
                     f"{self.merge.describe()}; each merged persona is a model of its own, and "
                     f"Ollama loads its own copy of the weights (≈ {human_size(weights)} "
                     f"{self.quantize or 'F16'} each, besides its KV cache).")
        elif self.merge_problem:
            text += (f" If a server refuses the adapter, no merged model can be made: "
                     f"{self.merge_problem} {ALTERNATIVES}")
        return text


def server_version(url: str, timeout: float = 5.0) -> str | None:
    """`/api/version` of the Ollama at `url` (None if it answers without one)."""
    host = redact_credentials(url)
    try:
        with ollama.Client(host=url, timeout=timeout) as client, translated_errors(host, None):
            response = client._client.get("/api/version")
            response.raise_for_status()
            return response.json().get("version")
    except (httpx.HTTPError, ValueError) as exc:
        raise RegistrationError(f"Ollama at {host} did not say its version: {exc}") from None
    except LLMError as exc:
        raise RegistrationError(str(exc)) from None


def _family(url: str, model: str | None, timeout: float) -> str | None:
    """The model's GGUF architecture on that server (`show`), or None if it cannot say."""
    if not model:
        return None
    try:
        with ollama.Client(host=url, timeout=timeout) as client:
            details = client.show(model).details
    except (ollama.ResponseError, httpx.HTTPError):
        return None
    return details.family if details is not None else None


def plan_ollama(urls: tuple[str, ...], train_base: str, quantize: str, timeout: float = 5.0,
                worker_base: str | None = None) -> OllamaPlan:
    """Ask every server its version (and the worker model's family), and estimate the merge
    from the base's headers, without loading weights."""
    quantize = normalise_quantize(quantize)
    if not urls:
        return OllamaPlan((), None, "There is no Ollama server to register on: set OLLAMA_HOST "
                                    "or COUNCIL_WORKER_HOSTS.", quantize)
    routes = tuple(ServerRoute(url, server_version(url, timeout),
                               _family(url, worker_base, timeout)) for url in urls)
    try:
        return OllamaPlan(routes, estimate_merge(train_base), None, quantize)
    except MergeError as exc:
        return OllamaPlan(routes, None, None, quantize, merge_problem=str(exc))


@dataclass(frozen=True)
class OllamaOutcome:
    """How a registration ended: on every server a model that answers, or the persona
    prompt-only with each server's reason and the fix."""

    model: str
    base: str
    servers: tuple[dict[str, Any], ...]

    @property
    def served(self) -> bool:
        return all(server["method"] for server in self.servers)

    @property
    def registration(self) -> Registration | None:
        """What the persona is switched to; None when it stays prompt-only."""
        if not self.served:
            return None
        return Registration(self.model, self.base,
                            served_record("ollama", self.model, list(self.servers)))

    def reason(self) -> str:
        """Each server's method and why, in one text (the CLI line, the job's message)."""
        parts = []
        for server in self.servers:
            ended = (f"the {server['method']} model" if server["method"]
                     else "nothing that answers")
            why = "; ".join(server["notes"])
            parts.append(f"Ollama {server['version']} at {server['host']}: {ended}"
                         + (f" ({why})" if why else ""))
        fixes = dict.fromkeys(server["fix"] for server in self.servers if server.get("fix"))
        return "; ".join(parts) + "." + "".join(f" {fix}" for fix in fixes)

    def stored(self) -> dict[str, Any]:
        """What the adapter's metadata.json keeps for the Training page."""
        return {"state": "served" if self.served else "prompt-only", "model": self.model,
                "servers": list(self.servers), "reason": self.reason(),
                "at": datetime.now(UTC).isoformat()}


def register_with_ollama(plan: OllamaPlan, slug: str, worker_base: str, adapter: TrainedAdapter,
                         progress: Progress = _quiet, timeout: float = 3600.0) -> OllamaOutcome:
    """Build `persona-<slug>` on every server of `plan` and check that it answers; where any
    server ends with nothing, remove what the others made (the persona stays prompt-only).
    Raises RegistrationError when nothing can be tried, LLMError when a server cannot be
    reached."""
    if plan.problem:
        raise RegistrationError(plan.problem)
    name = adapter_model_name(slug)
    artifacts = Artifacts(adapter, progress)
    servers = []
    try:
        for route in plan.routes:
            with ollama.Client(host=route.url, timeout=timeout) as client, \
                    translated_errors(route.host, worker_base):
                servers.append(serve_on(client, Target(route.host, route.version, route.family,
                                                       name, worker_base, plan.quantize),
                                        artifacts))
    finally:
        # Ollama keeps its own converted copy, and a merge takes seconds to make again
        # (bench/merge.py): a base-sized folder per persona is not worth keeping
        shutil.rmtree(adapter.merged, ignore_errors=True)
    outcome = OllamaOutcome(name, worker_base, tuple(servers))
    if outcome.served:
        return outcome
    return OllamaOutcome(name, worker_base, tuple(_withdraw(plan.routes, servers, name, timeout)))


def _withdraw(routes: tuple[ServerRoute, ...], servers: list[dict[str, Any]], name: str,
              timeout: float) -> list[dict[str, Any]]:
    """Rounds use `persona-<slug>` only where every server has it: delete it from the servers
    that do, so none keeps a model nothing will ask."""
    withdrawn = []
    for route, server in zip(routes, servers):
        if server["method"]:
            with ollama.Client(host=route.url, timeout=timeout) as client, \
                    translated_errors(route.host, None):
                remove(client, name)
            server = {**server, "method": None, "notes": [
                *server["notes"], (f"its {server['method']} model answered, and was removed "
                                   "again because another server cannot serve the persona")]}
        withdrawn.append(server)
    return withdrawn
