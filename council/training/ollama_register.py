"""Serve a persona's adapter through Ollama, on every worker server, as each one's version allows.

- Before v0.34.1 (method `adapter`): the adapter as a GGUF (gguf_export.py) is uploaded and
  `persona-<slug>` is created from the worker base with it. Ollama keeps one adapter per
  loaded base, so adapter personas take turns.
- From v0.34.1 on (method `merged`): Ollama no longer creates adapter models, so the adapter is
  merged into the transformers base it was trained on (merge.py) and Ollama imports those
  files as `persona-<slug>`, quantized to COUNCIL_OLLAMA_QUANTIZE. Each merged persona is a
  whole model: Ollama loads its own copy of the weights.
- A server whose version says nothing (a build from source answers 0.0.0) is offered the
  adapter first and gets the merged model if it refuses.

Each created model is read back (`show`) before the persona answers through it: an adapter
model must list the adapter blob that was uploaded, a merged one must exist without one. The
record of what was verified where (`Registration.record`) is what rounds go by.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import ollama

from ..llm.base import LLMError
from ..llm.ollama_backend import translated_errors
from ..llm.ollama_versions import creates_adapter_models
from ..redact import redact_credentials
from .gguf_export import AdapterExportError, export_gguf_adapter
from .merge import (MergedModel, MergeError, MergeEstimate, estimate_merge, human_size,
                    merge_adapter)
from .register import Registration, RegistrationError, adapter_model_name, served_record

ALTERNATIVES = (
    "To serve persona adapters without that: run the app on the embedded engine "
    "(COUNCIL_BACKEND=embedded), which applies every persona's adapter at once and trains on its "
    "own GGUF, or on an OpenAI-compatible server that loads adapters directly: vLLM with "
    "--enable-lora (COUNCIL_BACKEND=openai), or llama.cpp's server with --lora.")
Progress = Callable[[str, float], None]
# about the bits per weight of what Ollama quantizes an import to (llama.cpp's K-quants and
# Q8_0): the weights' memory per merged persona, before its KV cache
BITS_PER_WEIGHT = {"q4_k_m": 4.9, "q4_k_s": 4.6, "q8_0": 8.5}


def _quiet(stage: str, fraction: float) -> None:
    return None


@dataclass(frozen=True)
class ServerRoute:
    """One worker server, its version, and how the adapter gets onto it."""

    url: str  # what the client connects to (may carry credentials)
    version: str | None
    method: str  # "adapter", "merged", or "try" (unknown version: adapter, else merged)

    @property
    def host(self) -> str:
        return redact_credentials(self.url)


@dataclass(frozen=True)
class OllamaPlan:
    """What registering will do on each server, what a merge costs, or why nothing can work."""

    routes: tuple[ServerRoute, ...]
    merge: MergeEstimate | None
    problem: str | None
    quantize: str = ""

    def merged_weights_bytes(self) -> int | None:
        """What one merged persona's weights take in Ollama's memory."""
        if self.merge is None:
            return None
        bits = BITS_PER_WEIGHT.get(self.quantize)
        return self.merge.size_bytes if bits is None else int(self.merge.parameters * bits / 8)

    @property
    def merges(self) -> bool:
        return any(r.method != "adapter" for r in self.routes)

    def describe(self) -> str:
        """What the user reads before starting it (the Training page, the CLI's first line)."""
        if self.problem:
            return self.problem
        parts = []
        for route in self.routes:
            name = f"Ollama {route.version or '(version unknown)'} at {route.host}"
            parts.append({"adapter": f"{name}: the adapter on the worker model",
                          "merged": f"{name}: a merged model (adapter models were removed in "
                                    "0.34.1)",
                          "try": f"{name}: the adapter, or a merged model if it refuses"}
                         [route.method])
        text = "; ".join(parts) + "."
        weights = self.merged_weights_bytes()
        if self.merges and self.merge is not None and weights is not None:
            held = f"{self.quantize} " if self.quantize else ""
            text += (f" Merging: {self.merge.describe()}; each merged persona is a model of its "
                     f"own, and Ollama loads its own copy of the weights (≈ {human_size(weights)} "
                     f"{held}each, besides its KV cache).")
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


def plan_ollama(urls: tuple[str, ...], train_base: str, quantize: str,
                timeout: float = 5.0) -> OllamaPlan:
    """Ask every server its version and check, without loading weights, that a merge can be
    made where one is needed."""
    routes = []
    for url in urls:
        version = server_version(url, timeout)
        creates = creates_adapter_models(version)
        routes.append(ServerRoute(url, version, "try" if creates is None
                                  else "adapter" if creates else "merged"))
    plan = OllamaPlan(tuple(routes), None, None, quantize)
    if not plan.merges:
        return plan
    try:
        return OllamaPlan(plan.routes, estimate_merge(train_base), None, quantize)
    except MergeError as exc:
        if any(r.method == "try" for r in routes) and not any(r.method == "merged"
                                                             for r in routes):
            return plan  # offered the adapter; only a refusal would need the merge
        merged = ", ".join(f"{r.host} (Ollama {r.version})" for r in routes
                           if r.method == "merged")
        return OllamaPlan(plan.routes, None, quantize=quantize, problem=(
            f"{merged} cannot create models with an adapter (removed in Ollama 0.34.1), and the "
            f"adapter cannot be merged into its base for Ollama to import: {exc} {ALTERNATIVES}"))


@dataclass(frozen=True)
class TrainedAdapter:
    """A persona's trained adapter and where its derived files go."""

    folder: Path  # the PEFT adapter
    train_base: str  # the transformers base it was trained on
    gguf: Path  # the adapter as a GGUF, for the adapter route
    merged: Path  # the merged model, for the merged route


class _Artifacts:
    """The GGUF export and the merge, each made once however many servers need it."""

    def __init__(self, adapter: TrainedAdapter, progress: Progress) -> None:
        self.adapter = adapter
        self.progress = progress
        self._gguf: Path | None = None
        self._merged: MergedModel | None = None

    def gguf(self) -> Path:
        if self._gguf is None:
            self._gguf = export_gguf_adapter(self.adapter.folder, self.adapter.gguf,
                                             self.adapter.train_base).path
        return self._gguf

    def merged(self) -> MergedModel:
        if self._merged is None:
            try:
                self._merged = merge_adapter(self.adapter.train_base, self.adapter.folder,
                                             self.adapter.merged, self.progress)
            except MergeError as exc:
                raise RegistrationError(f"The adapter cannot be merged for Ollama: {exc} "
                                        f"{ALTERNATIVES}") from None
        return self._merged


def register_with_ollama(plan: OllamaPlan, slug: str, worker_base: str, adapter: TrainedAdapter,
                         progress: Progress = _quiet,
                         timeout: float = 3600.0) -> Registration:
    """Create and verify `persona-<slug>` on every server of `plan`."""
    if plan.problem:
        raise RegistrationError(plan.problem)
    name = adapter_model_name(slug)
    artifacts = _Artifacts(adapter, progress)
    servers = []
    try:
        for route in plan.routes:
            with ollama.Client(host=route.url, timeout=timeout) as client, \
                    translated_errors(route.host, worker_base):
                method, digest = _create(client, route, name, worker_base, artifacts,
                                         plan.quantize)
                _verify(client, route.host, name, method, digest)
            servers.append({"host": route.host, "version": route.version, "method": method})
    finally:
        # Ollama keeps its own converted copy, and a merge takes seconds to make again
        # (bench/merge.py): a base-sized folder per persona is not worth keeping
        shutil.rmtree(adapter.merged, ignore_errors=True)
    return Registration(name, worker_base, served_record("ollama", name, servers))


def _create(client: ollama.Client, route: ServerRoute, name: str, worker_base: str,
            artifacts: _Artifacts, quantize: str) -> tuple[str, str | None]:
    """Build the model on one server; returns the method that worked (and the adapter blob)."""
    if route.method in ("adapter", "try"):
        try:
            gguf = artifacts.gguf()
        except AdapterExportError:
            pass  # llama.cpp's adapter format cannot express it; a merged model still can
        else:
            digest = client.create_blob(gguf)
            try:
                client.create(model=name, from_=worker_base, adapters={gguf.name: digest},
                              stream=False)
                return "adapter", digest
            except ollama.ResponseError as exc:
                if route.method == "adapter" or exc.status_code != 400:
                    raise
    merged = artifacts.merged()
    files = {}
    for index, (file_name, path) in enumerate(sorted(merged.files.items())):
        artifacts.progress(f"upload to {route.host}", index / len(merged.files))
        files[file_name] = client.create_blob(path)
    for status in client.create(model=name, files=files, quantize=quantize or None, stream=True):
        artifacts.progress(f"Ollama: {status.status}", 1.0)
    return "merged", None


def _verify(client: ollama.Client, host: str, name: str, method: str,
            digest: str | None) -> None:
    """Read the model back: what rounds will call `persona-<slug>` must be what was built."""
    shown = client.show(name)
    adapters = [line for line in (shown.modelfile or "").splitlines()
                if line.startswith("ADAPTER ")]
    if method == "adapter" and not any(digest.removeprefix("sha256:") in line
                                       for line in adapters if digest):
        raise RegistrationError(f"Ollama at {host} created {name} without its adapter, so it "
                                f"would answer as the base model. {ALTERNATIVES}")
    if method == "merged" and adapters:
        raise RegistrationError(f"Ollama at {host} lists an adapter on the merged {name}; "
                                "delete it (`ollama rm`) and register again.")
