"""How well llama.cpp predicts a persona's answers, with and without its exported adapter.

Training reports PEFT's loss in transformers on dequantised weights; what the user gets is the
exported adapter on the GGUF the engine serves (quantised weights, llama.cpp's kernels).
Registration measures the held-out answers there, with and without the adapter, so an adapter
that did not carry over shows up as a number rather than as a hunch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..llm.gguf_model import (
    chat_formatter,
    fill_batch,
    init_adapter,
    load_model,
    set_adapters,
    template_tokens,
)

N_BATCH = 512


@dataclass(frozen=True)
class HeldOutLoss:
    """Mean negative log-likelihood per answer token (nats), base model vs base + adapter."""

    base: float
    adapter: float
    tokens: int
    examples: int

    def summary(self) -> dict[str, Any]:
        """As metadata.json keeps it, marked as measured on the eval split (`held_out_figure`
        shows nothing else)."""
        return {**{k: round(v, 4) if isinstance(v, float) else v
                   for k, v in asdict(self).items()}, "split": "eval"}


def held_out_figure(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored figure when it was measured on held-out pairs; None otherwise, including a
    record from before registration stopped falling back to the training pairs."""
    return stored if isinstance(stored, dict) and stored.get("split") == "eval" else None


class LlamaScorer:
    """One GGUF loaded in llama.cpp, scoring conversations' final answers token by token."""

    def __init__(self, path: Path, n_ctx: int = 2048, threads: int = 0) -> None:
        import llama_cpp
        from llama_cpp import _internals

        from ..llm.embedded import cpu_count

        self.path, self.n_ctx, self._llama_cpp = path, n_ctx, llama_cpp
        self.model = load_model(path)
        self.prompt_format = chat_formatter(self.model, path)
        self.full_format = chat_formatter(self.model, path, generation_prompt=False)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, N_BATCH, N_BATCH
        params.n_threads = params.n_threads_batch = threads or cpu_count()
        self.context = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=N_BATCH, embd=0, n_seq_max=1, verbose=False)
        self.n_vocab = self.model.n_vocab()
        self.adapters: list[Any] = []

    def use_adapter(self, adapter: Path, scale: float = 1.0) -> None:
        """Score with `adapter` applied from now on."""
        self.adapters.append(init_adapter(self.model, str(adapter), self.path))
        set_adapters(self.context, self.adapters[-1:], [scale])

    def answer_nll(self, messages: list[dict[str, str]]) -> tuple[float, int]:
        """Summed negative log-likelihood of the last (assistant) message, and its tokens."""
        prompt = template_tokens(self.model, self.prompt_format, messages[:-1], self.path)
        full = template_tokens(self.model, self.full_format, messages, self.path)[:self.n_ctx]
        if full[:len(prompt)] != prompt or len(full) <= len(prompt):
            return 0.0, 0
        self._llama_cpp.llama_memory_clear(self.context.memory, True)
        total, counted = 0.0, 0
        for start in range(0, len(full), N_BATCH):
            piece = full[start:start + N_BATCH]
            # the logits at position p predict token p + 1: wanted for the answer's tokens
            wanted = {i for i in range(len(piece))
                      if len(prompt) <= start + i + 1 < len(full)}
            fill_batch(self.batch, [(token, start + i, 0, i in wanted)
                                    for i, token in enumerate(piece)])
            self.context.decode(self.batch)
            for i in wanted:
                logits = np.ctypeslib.as_array(
                    self._llama_cpp.llama_get_logits_ith(self.context.ctx, i),
                    shape=(self.n_vocab,)).astype(np.float64)
                peak = logits.max()
                log_norm = peak + np.log(np.exp(logits - peak).sum())
                total += log_norm - logits[full[start + i + 1]]
                counted += 1
        return total, counted

    def mean_nll(self, conversations: list[list[dict[str, str]]]) -> tuple[float, int]:
        """Mean negative log-likelihood per answer token, and how many tokens it covers."""
        total, tokens = 0.0, 0
        for messages in conversations:
            nll, count = self.answer_nll(messages)
            total, tokens = total + nll, tokens + count
        return total / max(tokens, 1), tokens

    def close(self) -> None:
        self.batch.close()
        self.context.close()
        for handle in self.adapters:
            self._llama_cpp.llama_adapter_lora_free(handle)
        self.model.close()


def held_out_loss(base_gguf: Path, adapter_gguf: Path,
                  conversations: list[list[dict[str, str]]]) -> HeldOutLoss:
    """The answers' loss under llama.cpp on `base_gguf`, without and with `adapter_gguf`."""
    scorer = LlamaScorer(base_gguf)
    try:
        base, tokens = scorer.mean_nll(conversations)
        if not tokens:
            raise ValueError(f"None of the {len(conversations)} held-out pairs has an answer "
                             f"llama.cpp can score with {base_gguf.name}'s chat template; "
                             "prepare the data again.")
        scorer.use_adapter(adapter_gguf)
        adapted, _ = scorer.mean_nll(conversations)
    finally:
        scorer.close()
    return HeldOutLoss(float(base), float(adapted), tokens, len(conversations))
