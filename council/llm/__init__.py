"""Chat backends behind one interface (`base.ChatBackend`): Ollama, or an OpenAI-compatible
server such as vLLM; `make_backend` picks the one the settings name."""

from __future__ import annotations

from ..config import Settings
from .base import ChatBackend


def make_backend(settings: Settings, timeout: float | None = None) -> ChatBackend:
    """The configured backend (COUNCIL_BACKEND), with `timeout` seconds per request."""
    timeout = timeout or max(settings.worker_timeout, settings.synth_timeout)
    if settings.backend == "openai":
        from .openai_backend import OpenAICompatibleBackend

        return OpenAICompatibleBackend(settings.openai_base_url, settings.openai_api_key,
                                       timeout=timeout)
    from .ollama_backend import OllamaBackend

    return OllamaBackend(settings.ollama_host, timeout=timeout, keep_alive=settings.keep_alive)
