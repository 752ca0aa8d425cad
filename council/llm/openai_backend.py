"""An OpenAI-compatible server (vLLM, llama.cpp's server) through the official `openai` client.

The point is scale-out: vLLM started with `--enable-lora` serves every persona's adapter at
once from its PEFT folder, where Ollama holds one adapter per base at a time. Token counts
come from the stream's usage chunk (servers that send none, like llama-cpp-python's, are
counted a token per streamed chunk); OpenAI-compatible servers report no durations, so the
speed shown under an answer is measured here from the first to the last token.

How many requests such a server runs at once differs: vLLM batches many, llama.cpp's server
has `--parallel` slots (it reports them at `/props`), and llama-cpp-python's server runs one
and, with its defaults, interrupts it when the next arrives. `probe_parallel` asks; a server
that does not say is sent one request at a time unless COUNCIL_BACKEND_PARALLEL says more.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai

from ..redact import redact_credentials
from .base import (BackendHealth, BackendUnreachable, ChatChunk, ChatMessage, ChatStats,
                   ConnectionLost, LLMError, LLMTimeout, ModelInfo, ModelNotFound, OwnSlots,
                   RequestSlots, StreamError)
from .prompt_size import LearnedTokenCounts, PromptSizeEstimator
from .sampling import OPENAI_NAMES

# Ollama option names -> OpenAI request fields: only fields the OpenAI API itself defines, which
# every compatible server takes (llama.cpp's repeat_penalty or DRY fields are no such field)
OPTION_FIELDS = {"temperature": "temperature", "top_p": "top_p", "num_predict": "max_tokens",
                 "seed": "seed", **{name: name for name in OPENAI_NAMES}}


class OpenAICompatibleBackend(LearnedTokenCounts, OwnSlots):
    """One shared client for every worker and the synthesizer."""

    kind = "openai"
    applies_adapters = False

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 120.0,
                 parallel: int | None = None,
                 prompt_sizes: PromptSizeEstimator | None = None) -> None:
        super().__init__(prompt_sizes)
        self.host = redact_credentials(base_url.rstrip("/"))  # what messages name
        self.client = openai.OpenAI(base_url=base_url.rstrip("/"),
                                    api_key=api_key or "not-needed", timeout=timeout,
                                    max_retries=0)
        self.parallel_source = "COUNCIL_BACKEND_PARALLEL" if parallel else ""
        if not parallel:
            parallel, self.parallel_source = probe_parallel(base_url.rstrip("/"), api_key)
        self.slots = RequestSlots(parallel)

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        fields = {OPTION_FIELDS[k]: v for k, v in (options or {}).items()
                  if k in OPTION_FIELDS and v is not None}
        started = time.monotonic_ns()
        first_token: int | None = None
        finish_reason: str | None = None
        usage: Any = None
        pieces = 0  # content chunks: one per token on servers that send no usage
        with openai_errors(self.host, model):
            stream = self.client.chat.completions.create(
                model=model, messages=messages, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True}, **fields)
            with stream:
                try:
                    for chunk in stream:
                        usage = chunk.usage or usage
                        for choice in chunk.choices:
                            if choice.delta.content:
                                first_token = first_token or time.monotonic_ns()
                                pieces += 1
                                yield choice.delta.content
                            finish_reason = choice.finish_reason or finish_reason
                except openai.APIConnectionError:
                    raise ConnectionLost(f"The connection to {self.host} broke while {model} "
                                         "was answering.") from None
        if finish_reason is None:
            raise StreamError(f"{self.host} closed the stream for {model} before it finished.")
        ended = time.monotonic_ns()
        self.prompt_sizes.observe(model, messages, getattr(usage, "prompt_tokens", None))
        yield ChatStats(
            done_reason=finish_reason,
            prompt_eval_count=getattr(usage, "prompt_tokens", None),
            eval_count=getattr(usage, "completion_tokens", None) or pieces,
            eval_duration_ns=ended - first_token if first_token else None,
            total_duration_ns=ended - started)

    def list_models(self) -> list[ModelInfo]:
        with openai_errors(self.host, None):
            listed = self.client.models.list()
        return [ModelInfo(name=m.id, details={"owned_by": m.owned_by}) for m in listed.data]

    def health(self) -> BackendHealth:
        try:
            models = self.list_models()
        except LLMError as exc:
            return BackendHealth(False, self.kind, self.host,
                                 error=redact_credentials(str(exc)))
        return BackendHealth(True, self.kind, self.host, version=f"{len(models)} models",
                             details={"parallel": self.slots.limit,
                                      "parallel_source": self.parallel_source,
                                      "any_model_name": answers_any_name(models)})

    def close(self) -> None:
        self.client.close()


@contextmanager
def openai_errors(host: str, model: str | None) -> Iterator[None]:
    """Turn the client's exceptions into `LLMError`s whose text says what to do."""
    try:
        yield
    except openai.APITimeoutError:
        raise LLMTimeout(f"{model or 'The server'} at {host} sent nothing for too long.") from None
    except openai.APIConnectionError:
        raise BackendUnreachable(f"Cannot reach the OpenAI-compatible server at {host}. Start it "
                                 "(e.g. `vllm serve ... --enable-lora`) or set OPENAI_BASE_URL "
                                 "to where it runs.") from None
    except openai.NotFoundError as exc:
        if model:
            raise ModelNotFound(f"Model {model} is not served by {host}. Start the server with "
                                f"it (for an adapter: --lora-modules {model}=PATH).") from None
        raise StreamError(f"{host} answered 404: {exc.message}") from None
    except openai.APIStatusError as exc:
        raise StreamError(f"{host} reported an error (HTTP {exc.status_code}): "
                          f"{exc.message}") from None
    except openai.APIError as exc:
        raise StreamError(f"The stream from {host} broke: {exc.message}") from None


def probe_parallel(base_url: str, api_key: str = "") -> tuple[int | None, str]:
    """How many requests the server runs at once, and how that was found out.

    llama.cpp's server reports its slots at `/props`; vLLM names itself as the owner of its
    models and batches any number; anything else (llama-cpp-python's server among them) gets
    one request at a time.
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with httpx.Client(timeout=3.0, headers=headers) as client:
            props = client.get(f"{root}/props")
            if props.status_code == 200 and isinstance(props.json(), dict):
                slots = props.json().get("total_slots")
                if isinstance(slots, int) and slots > 0:
                    return slots, "the server's /props (total_slots)"
            models = client.get(f"{base_url.rstrip('/')}/models")
            owners = {m.get("owned_by") for m in models.json().get("data", [])
                      if isinstance(m, dict)} if models.status_code == 200 else set()
    except (httpx.HTTPError, ValueError, AttributeError):
        return 1, "not found out (server unreachable at start): one at a time"
    if "vllm" in owners:
        return None, "vLLM (batches requests)"
    return 1, "the server does not say: one at a time"


def answers_any_name(models: list[ModelInfo]) -> bool:
    """llama-cpp-python's server (which says its models are owned by "me") answers a request
    for any model name with the one model it serves."""
    return len(models) == 1 and models[0].details.get("owned_by") == "me"
