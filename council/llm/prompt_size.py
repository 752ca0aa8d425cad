"""How many tokens a prompt takes on a server whose tokenizer the app does not have.

Ollama and OpenAI-compatible servers report each prompt's token count when it is answered;
the tokens-per-character they report is learned per model and used for the next prompt,
starting from a cautious three characters a token. The largest ratio seen wins, because a
server that reused a cached prefix reports fewer tokens than the prompt really holds.
"""

from __future__ import annotations

import math
import threading

from .base import ChatMessage

FIRST_GUESS = 1 / 3  # tokens per character before the server has reported anything
FLOOR = 1 / 4.5  # no estimate assumes more than 4.5 characters a token
MARGIN = 1.1
TOKENS_PER_MESSAGE = 8  # what a chat template wraps around each message (role markers)
MIN_CHARS_TO_LEARN = 200


def _chars(messages: list[ChatMessage]) -> int:
    return sum(len(m.get("content") or "") for m in messages)


class PromptSizeEstimator:
    """Learns tokens per character per model from the prompt sizes a server reports."""

    def __init__(self) -> None:
        self.ratios: dict[str, float] = {}
        self.lock = threading.Lock()

    def estimate(self, model: str, messages: list[ChatMessage]) -> int:
        ratio = max(self.ratios.get(model, FIRST_GUESS), FLOOR) * MARGIN
        return math.ceil(_chars(messages) * ratio) + TOKENS_PER_MESSAGE * len(messages)

    def observe(self, model: str, messages: list[ChatMessage], prompt_tokens: int | None) -> None:
        chars = _chars(messages)
        if not prompt_tokens or chars < MIN_CHARS_TO_LEARN:
            return
        ratio = max(prompt_tokens - TOKENS_PER_MESSAGE * len(messages), 1) / chars
        with self.lock:
            self.ratios[model] = max(ratio, self.ratios.get(model, 0.0))


class LearnedTokenCounts:
    """`count_tokens` for backends that have no tokenizer (Ollama, OpenAI-compatible servers):
    the estimate their own reports teach `prompt_sizes` (one estimator shared by the servers
    of a pool, which serve the same models)."""

    def __init__(self, prompt_sizes: PromptSizeEstimator | None = None) -> None:
        self.prompt_sizes = prompt_sizes or PromptSizeEstimator()

    def count_tokens(self, model: str, messages: list[ChatMessage]) -> int:
        return self.prompt_sizes.estimate(model, messages)
