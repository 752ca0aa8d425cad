"""One Ollama server, one persona: find by trying what it serves, and check it answers.

The order on each server: the adapter on the worker model (unless the adapter cannot be
exported as a GGUF), then the adapter merged into its base and imported, then nothing (the
persona stays prompt-only there). Any `ollama.ResponseError` on the way (create's own 400s, the
500 its `from` path answers with, an error line in the stream) is a refusal of that method and
moves on to the next; a transport failure is not, and leaves through `translated_errors` as an
`LLMError`. A created model counts only once it answers a short chat; one that cannot is
deleted again, so no server keeps a `persona-<slug>` that fails its first round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ollama

from ..llm.ollama_versions import LLAMA_SERVER_RUNNER, adapters_fail_to_load
from .gguf_export import AdapterExportError, export_gguf_adapter
from .merge import MergedModel, MergeError, merge_adapter

ALTERNATIVES = (
    "To serve persona adapters without that: run the app on the embedded engine "
    "(COUNCIL_BACKEND=embedded), which applies every persona's adapter at once and trains on its "
    "own GGUF, or on an OpenAI-compatible server that loads adapters directly: vLLM with "
    "--enable-lora (COUNCIL_BACKEND=openai), or llama.cpp's server with --lora.")
# what a created model is asked before a persona answers through it: a few tokens are enough to
# load it (with its adapter) and run it; keep_alive 0 unloads it again at once
PROBE = [{"role": "user", "content": "Say hello in one word."}]
PROBE_OPTIONS = {"num_predict": 8}
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainedAdapter:
    """A persona's trained adapter and where its derived files go."""

    folder: Path  # the PEFT adapter
    train_base: str  # the transformers base it was trained on
    gguf: Path  # the adapter as a GGUF, for the adapter model
    merged: Path  # the merged model, for the import


class Artifacts:
    """The GGUF export and the merge, each tried once however many servers need it."""

    def __init__(self, adapter: TrainedAdapter, progress: Progress) -> None:
        self.adapter = adapter
        self.progress = progress
        self._gguf: Path | AdapterExportError | None = None
        self._merged: MergedModel | MergeError | None = None

    def gguf(self) -> Path:
        if self._gguf is None:
            try:
                self._gguf = export_gguf_adapter(self.adapter.folder, self.adapter.gguf,
                                                 self.adapter.train_base).path
            except AdapterExportError as exc:
                self._gguf = exc
        if isinstance(self._gguf, AdapterExportError):
            raise self._gguf
        return self._gguf

    def merged(self) -> MergedModel:
        if self._merged is None:
            try:
                self._merged = merge_adapter(self.adapter.train_base, self.adapter.folder,
                                             self.adapter.merged, self.progress)
            except MergeError as exc:
                self._merged = exc
        if isinstance(self._merged, MergeError):
            raise self._merged
        return self._merged


@dataclass(frozen=True)
class Target:
    """Where and as what the persona model is built on one server."""

    host: str  # redacted, for messages and the record
    version: str | None
    family: str | None  # the worker model's GGUF architecture, as `show` says it
    name: str  # persona-<slug>
    worker_base: str
    quantize: str


def serve_on(client: ollama.Client, target: Target, artifacts: Artifacts) -> dict[str, Any]:
    """Try the adapter model, then the merged one; the record of what this server ended with
    (`method` None: nothing answers, the persona stays prompt-only here) and why."""
    notes: list[str] = []
    try:
        gguf = artifacts.gguf()
    except AdapterExportError as exc:
        notes.append(f"the adapter cannot be exported as a GGUF: {exc}")
    else:
        problem = _adapter_model(client, target, gguf)
        if problem is None:
            return _record(target, "adapter", notes)
        notes.append(problem)
    try:
        merged = artifacts.merged()
    except MergeError as exc:
        notes.append(f"no merged model can be made: {exc}")
        return _record(target, None, notes)
    problem = _merged_model(client, target, merged, artifacts.progress)
    if problem is None:
        return _record(target, "merged", notes)
    notes.append(problem)
    return _record(target, None, notes)


def remove(client: ollama.Client, name: str) -> None:
    """Delete `name` if the server has it (a refused create may have left nothing)."""
    try:
        client.delete(name)
    except ollama.ResponseError:
        pass


def _record(target: Target, method: str | None, notes: list[str]) -> dict[str, Any]:
    # one line each: a server's text may span several, and the job's message is one line
    record: dict[str, Any] = {"host": target.host, "version": target.version, "method": method,
                              "notes": [" ".join(note.split()) for note in notes]}
    if method is None:
        record["fix"] = _fix(target)
    return record


def _fix(target: Target) -> str:
    upgrade = ""
    if target.family and adapters_fail_to_load(target.version, target.family):
        upgrade = (f"Upgrade Ollama at {target.host} to {'.'.join(map(str, LLAMA_SERVER_RUNNER))} "
                   f"or later, which applies adapters to {target.family} models. ")
    return upgrade + ALTERNATIVES


def _adapter_model(client: ollama.Client, target: Target, gguf: Path) -> str | None:
    """Create `name` from the worker model with the adapter; None once it answers, else why
    not."""
    try:
        digest = client.create_blob(gguf)
        for _ in client.create(model=target.name, from_=target.worker_base,
                               adapters={gguf.name: digest}, stream=True):
            pass
    except ollama.ResponseError as exc:
        remove(client, target.name)
        return f"the adapter model was refused: {exc.error}"
    return _answers(client, target.name, "adapter", digest)


def _merged_model(client: ollama.Client, target: Target, merged: MergedModel,
                  progress: Progress) -> str | None:
    """Import the merged folder as `name`; None once it answers, else why not."""
    try:
        files = {}
        for index, (file_name, path) in enumerate(sorted(merged.files.items())):
            progress(f"upload to {target.host}", index / len(merged.files))
            files[file_name] = client.create_blob(path)
        for status in client.create(model=target.name, files=files,
                                    quantize=target.quantize or None, stream=True):
            progress(f"Ollama: {status.status}", 1.0)
    except ollama.ResponseError as exc:
        remove(client, target.name)
        return f"the merged model was refused: {exc.error}"
    return _answers(client, target.name, "merged", None)


def _answers(client: ollama.Client, name: str, method: str, digest: str | None) -> str | None:
    """Read the model back and ask it for a few tokens; a model that is not what was built, or
    cannot answer, is deleted again. None when it answers, else why not."""
    problem = _built_as_asked(client, name, method, digest)
    if problem is None:
        try:
            client.chat(model=name, messages=PROBE, options=PROBE_OPTIONS, stream=False,
                        keep_alive=0)
        except ollama.ResponseError as exc:
            problem = f"the {method} model was created but cannot answer: {exc.error}"
    if problem is not None:
        remove(client, name)
    return problem


def _built_as_asked(client: ollama.Client, name: str, method: str,
                    digest: str | None) -> str | None:
    """An adapter model must list the adapter blob that was uploaded, or it would answer as
    the base model; a merged one must list none."""
    try:
        shown = client.show(name)
    except ollama.ResponseError as exc:
        return f"the {method} model cannot be read back: {exc.error}"
    adapters = [line for line in (shown.modelfile or "").splitlines()
                if line.startswith("ADAPTER ")]
    if digest is not None and not any(digest.removeprefix("sha256:") in line
                                      for line in adapters):
        return "the adapter model was created without its adapter (it would answer as the base)"
    if digest is None and adapters:
        return "the merged model lists an adapter"
    return None
