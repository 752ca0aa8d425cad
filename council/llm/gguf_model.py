"""One GGUF file in llama.cpp, generating for several requests at once (continuous batching).

`GGUFModel` owns the model, its chat template and tokenizer, the LoRA adapters loaded beside it,
and one context; a scheduler thread runs every request through that context (see the class).
`EmbeddedBackend` (embedded.py) keeps one per file and speaks the app's backend interface over it.
"""

from __future__ import annotations

import codecs
import ctypes
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ChatMessage, ChatStats, ModelNotFound, StreamError

GGUF_MAGIC = b"GGUF"
GATHER_S = 0.02  # how long an idle scheduler waits for requests sent at the same moment
# what ends a repeat for DRY: llama.cpp's own default sequence breakers
DRY_BREAKERS = ("\n", ":", "\"", "*")


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


def load_model(path: Path) -> Any:
    """The GGUF at `path` as llama-cpp-python's `_internals.LlamaModel`, or a fix-it error."""
    import llama_cpp
    from llama_cpp import _internals

    check_gguf(path)
    try:
        # verbose=True only skips redirecting the process's stdout/stderr to /dev/null;
        # the "llama-cpp-python" logger level (set by EmbeddedBackend) keeps it quiet
        return _internals.LlamaModel(path_model=str(path),
                                     params=llama_cpp.llama_model_default_params(), verbose=True)
    except ValueError as exc:
        raise ModelNotFound(f"llama.cpp could not load {path}: {exc}. Is it a complete, "
                            "llama.cpp-compatible GGUF?") from None


def fill_batch(batch: Any, tokens: list[tuple[int, int, int, bool]]) -> None:
    """Put (token, position, sequence, wants logits) items into a `LlamaBatch`."""
    raw = batch.batch
    raw.n_tokens = len(tokens)
    for i, (token, position, seq, logits) in enumerate(tokens):
        raw.token[i], raw.pos[i], raw.logits[i] = token, position, logits
        raw.seq_id[i][0], raw.n_seq_id[i] = seq, 1


def init_adapter(model: Any, path: str, base: Path) -> Any:
    """A LoRA adapter GGUF loaded beside `model` (the GGUF at `base`), or a fix-it error."""
    import llama_cpp

    handle = llama_cpp.llama_adapter_lora_init(model.model, path.encode("utf-8"))
    if not handle:
        raise StreamError(f"llama.cpp could not apply the adapter {path} to {base.name}: it "
                          "was trained for another base model or architecture. Retrain it on "
                          "this model.")
    return handle


def set_adapters(context: Any, handles: list[Any], scales: list[float]) -> None:
    """Apply exactly these adapters, with these scales, to every later decode of `context`."""
    import llama_cpp

    array = (llama_cpp.llama_adapter_lora_p_ctypes * len(handles))(*handles)
    if llama_cpp.llama_set_adapters_lora(context.ctx, array, len(handles),
                                         (ctypes.c_float * len(scales))(*scales)):
        raise StreamError("llama.cpp refused to apply the adapters.")


def chat_formatter(model: Any, path: Path, generation_prompt: bool = True) -> Any:
    """The chat template stored in a loaded GGUF (`_internals.LlamaModel`), ready to format:
    a prompt for the next answer, or (`generation_prompt=False`) a finished conversation."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = model.metadata().get("tokenizer.chat_template")
    if not template:
        raise ModelNotFound(f"{path} carries no chat template; use an instruct/chat GGUF.")

    def token_text(token: int) -> str:
        return model.token_get_text(token) if token != -1 else ""

    return Jinja2ChatFormatter(template=template, eos_token=token_text(model.token_eos()),
                               bos_token=token_text(model.token_bos()),
                               add_generation_prompt=generation_prompt)


def template_tokens(model: Any, formatter: Any, messages: list[ChatMessage],
                    path: Path) -> list[int]:
    """`messages` through the chat template, as the model's tokens."""
    try:
        formatted = formatter(messages=messages)
    except ValueError as exc:  # the template itself refused (e.g. roles out of order)
        raise StreamError(f"{path.name}'s chat template refused the messages: {exc}") from None
    return model.tokenize(formatted.prompt.encode("utf-8"),
                          add_bos=not formatted.added_special, special=True)


@dataclass
class Request:
    """One answer being generated: what the scheduler needs, and where its pieces go."""

    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    # repetition options by Ollama's names, every one given (`sampling.embedded_sampling`)
    repetition: dict[str, float | int] = field(default_factory=dict)
    # LoRA adapters (GGUF path, scale) applied to this answer only; () for the base model
    adapters: tuple[tuple[str, float], ...] = ()
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

    LoRA adapters are loaded once each, beside the one copy of the base weights. llama.cpp
    applies adapters per context, not per sequence, so answers that use different adapter
    sets are decoded in one batch per set, one after the other in the same step; answers that
    share a set (the base model, or the router's mix) still share their batch.
    """

    def __init__(self, path: Path, n_ctx: int, sequences: int, threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.path, self.n_ctx, self.sequences = path, n_ctx, sequences
        self._llama_cpp, self._internals = llama_cpp, _internals
        self.model = load_model(path)
        try:
            self.formatter = chat_formatter(self.model, path)
        except ModelNotFound:
            self.model.close()
            raise
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx * sequences
        self.n_batch = params.n_batch = params.n_ubatch = min(n_ctx, 512)
        params.n_seq_max = sequences
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # one KV buffer: tokens of different requests decode together
        self.context = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1,
                                           verbose=False)
        # adapter path -> (the file's stamp, llama.cpp adapter): loaded once, again if the file
        # is replaced (a retrain); replaced ones are freed with the model
        self.adapters: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self.retired: list[Any] = []
        self.applied: tuple[tuple[str, tuple[int, int, int], float], ...] = ()
        self.waiting: list[Request] = []
        self.running: list[Request] = []
        self.free_seqs = list(range(sequences))
        self.wake = threading.Condition()
        self.closing = False
        self.scheduler = threading.Thread(target=self._schedule, name=f"llama-{path.stem}",
                                          daemon=True)
        self.scheduler.start()

    # --- prompts ---------------------------------------------------------------------------

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The templated prompt as tokens, exactly as the model will read it."""
        return template_tokens(self.model, self.formatter, messages, self.path)

    # --- requests --------------------------------------------------------------------------

    def submit(self, request: Request) -> None:
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
                if not self.running:  # workers sent together start together, prompts batched
                    deadline = time.monotonic() + GATHER_S
                    while time.monotonic() < deadline and len(self.waiting) < self.sequences:
                        self.wake.wait(deadline - time.monotonic())
                while self.waiting and self.free_seqs:
                    request = self.waiting.pop(0)
                    request.seq = self.free_seqs.pop()
                    self._llama_cpp.llama_memory_seq_rm(self.context.memory, request.seq, -1, -1)
                    request.sampler = self._sampler(request)
                    self.running.append(request)
                running = list(self.running)
            try:
                self._step(running)
            except Exception as exc:  # noqa: BLE001  (llama.cpp failed: every request learns why)
                failure = StreamError(f"llama.cpp failed while {self.path.name} was answering: "
                                      f"{exc}")
                for request in running:
                    self._finish(request, failure)
        with self.wake:
            left = self.running + self.waiting
        for request in left:
            request.out.put(StreamError(f"The engine serving {self.path.name} shut down."))

    def _step(self, running: list[Request]) -> None:
        """One step for every answer under way: a decode per adapter set in use."""
        groups: dict[tuple[tuple[str, float], ...], list[Request]] = {}
        for request in running:
            if request.cancelled.is_set():
                self._finish(request, None)
                continue
            if request.generated == 0 and request.position == 0:  # its first step
                try:
                    self.load_adapters(request.adapters)
                except StreamError as exc:
                    self._finish(request, exc)
                    continue
            groups.setdefault(request.adapters, []).append(request)
        # every change of adapter set makes llama.cpp rebuild its graph (several ms on a
        # CPU): start with the set already applied, so each step switches one time fewer
        current = tuple((path, scale) for path, _, scale in self.applied)
        for adapters in sorted(groups, key=lambda key: key != current):
            self._apply_adapters(adapters)
            self._decode(groups[adapters])

    def load_adapters(self, adapters: tuple[tuple[str, float], ...]) -> None:
        """Load each adapter not loaded yet, or replaced on disk since (the scheduler does,
        before a request's first decode; anyone else only while the model is idle)."""
        for path, _ in adapters:
            try:
                stat = Path(path).stat()
            except OSError:
                raise StreamError(f"The LoRA adapter {path} is gone: retrain or re-register "
                                  "the persona on the Training page.") from None
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            known = self.adapters.get(path)
            if known is not None and known[0] == stamp:
                continue
            handle = init_adapter(self.model, path, self.path)
            if known is not None:
                self.retired.append(known[1])  # the context may still hold it until reset
            self.adapters[path] = (stamp, handle)

    def _apply_adapters(self, adapters: tuple[tuple[str, float], ...]) -> None:
        wanted = tuple((path, self.adapters[path][0], scale) for path, scale in adapters)
        if wanted == self.applied:
            return
        set_adapters(self.context, [self.adapters[path][1] for path, _ in adapters],
                     [scale for _, scale in adapters])
        self.applied = wanted

    def _decode(self, live: list[Request]) -> None:
        """One decode for a set of answers: the next token of each answer under way, and as
        much of the new requests' prompts as the batch has room for (continuous batching)."""
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
        fill_batch(self.batch, items)
        self.context.decode(self.batch)
        for request in answering:
            request.position += 1
        for index, request in samples:
            self._sample(request, index)

    def _sampler(self, request: Request) -> Any:
        """llama.cpp's chain in its own order: repetition penalties and DRY first (they see
        every candidate), then the truncations, temperature and the draw."""
        sampler = self._internals.LlamaSampler()
        self._add_repetition(sampler, request.repetition)
        if request.temperature <= 0:
            sampler.add_greedy()
            return sampler
        sampler.add_top_k(40)
        sampler.add_top_p(request.top_p, 1)
        sampler.add_min_p(0.05, 1)
        sampler.add_temp(request.temperature)
        sampler.add_dist(request.seed)
        return sampler

    def _add_repetition(self, sampler: Any, options: dict[str, float | int]) -> None:
        """The penalties sampler and DRY, each only when it would change anything (the
        sampler accepts every drawn token, so both see the answer so far)."""
        if not options:
            return
        if (options["repeat_penalty"] != 1 or options["frequency_penalty"]
                or options["presence_penalty"]) and options["repeat_last_n"]:
            sampler.add_penalties(self.model.n_vocab(), int(options["repeat_last_n"]),
                                  float(options["repeat_penalty"]),
                                  float(options["frequency_penalty"]),
                                  float(options["presence_penalty"]))
        if options["dry_multiplier"] > 0:
            last_n = int(options["dry_penalty_last_n"])
            sampler.add_dry(self.model, float(options["dry_multiplier"]),
                            float(options["dry_base"]), int(options["dry_allowed_length"]),
                            self.n_ctx if last_n < 0 else last_n, list(DRY_BREAKERS))

    def _sample(self, request: Request, index: int) -> None:
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

    def _finish(self, request: Request, outcome: str | Exception | None) -> None:
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
        for handle in [h for _, h in self.adapters.values()] + self.retired:
            self._llama_cpp.llama_adapter_lora_free(handle)
        self.model.close()
