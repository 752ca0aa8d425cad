"""Settings, read once from environment variables.

Every setting has a default that works with no setup (Ollama when it runs, otherwise the
embedded engine with the bundled model); the README lists them all (a test
checks that it does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


def _number(env: dict[str, str], name: str, default: float, kind: type = float,
            allow_zero: bool = False) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}; unset it or give a number "
                            f"(default {default}).") from None
    if value < 0 or (value == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "greater than 0"
        raise SettingsError(f"{name}={raw!r} must be {bound} (default {default}).")
    return value


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    raw = (env.get(name) or allowed[0]).strip().lower()
    if raw not in allowed:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(allowed)} "
                            f"(default {allowed[0]}).")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the app; built by `from_env`, replaced wholesale in tests."""

    ollama_host: str = "http://127.0.0.1:11434"
    backend: str = "auto"  # auto | ollama | openai (vLLM, llama.cpp's server) | embedded
    backend_parallel: int = 0  # requests the backend runs at once; 0 = find out
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str = field(default="", repr=False)
    worker_model: str = "qwen2.5:3b"
    synth_model: str = "qwen2.5:7b"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""
    worker_timeout: float = 120.0
    synth_timeout: float = 300.0
    max_parallel_workers: int = 4
    num_ctx: int = 4096
    num_predict: int = 1024
    keep_alive: str = "10m"
    engine_worker_gguf: str = ""  # the embedded engine's model files; "" = the bundled model
    engine_synth_gguf: str = ""
    engine_threads: int = 0  # CPU threads the embedded engine may use; 0 = every core
    host: str = "127.0.0.1"
    port: int = 5000
    demo: bool = False
    embedding_model: str = ""
    model_cache_dir: Path = PROJECT_ROOT / "data" / "models"
    loras_dir: Path = PROJECT_ROOT / "loras"
    train_base_model: str = "Qwen/Qwen2.5-3B-Instruct"
    router_top_k: int = 3
    router_temperature: float = 1.0
    router_min_weight: float = 0.05
    router_similarity_scale: float = 8.0
    router_gate_strength: float = 1.0
    router_merit_strength: float = 1.0
    router_rule_strength: float = 0.5
    router_exploration: float = 0.3
    router_max_unseen: int = 8
    sentiment_swing: float = 0.25
    temperature_bounds: tuple[float, float] = (0.1, 1.3)
    top_p_bounds: tuple[float, float] = (0.5, 1.0)
    peer_review: bool = False
    max_upload_mb: int = 2048
    max_rounds_per_client: int = 3
    allowed_hosts: str = ""  # comma-separated extra Host names besides the local ones
    secret_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.database_url:
            default_url = f"sqlite:///{Path(self.data_dir) / 'council.db'}"
            object.__setattr__(self, "database_url", default_url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        """Read the documented environment variables; keyword overrides win (the CLI uses them)."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("COUNCIL_DATA_DIR") or PROJECT_ROOT / "data")
        values: dict[str, Any] = dict(
            ollama_host=env.get("OLLAMA_HOST") or cls.ollama_host,
            backend=_choice(env, "COUNCIL_BACKEND", ("auto", "ollama", "openai", "embedded")),
            backend_parallel=_number(env, "COUNCIL_BACKEND_PARALLEL", cls.backend_parallel, int,
                                     allow_zero=True),
            openai_base_url=env.get("OPENAI_BASE_URL") or cls.openai_base_url,
            openai_api_key=env.get("OPENAI_API_KEY", ""),
            worker_model=env.get("COUNCIL_WORKER_MODEL") or cls.worker_model,
            synth_model=env.get("COUNCIL_SYNTH_MODEL") or cls.synth_model,
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", ""),
            worker_timeout=_number(env, "COUNCIL_WORKER_TIMEOUT", cls.worker_timeout),
            synth_timeout=_number(env, "COUNCIL_SYNTH_TIMEOUT", cls.synth_timeout),
            max_parallel_workers=_number(env, "COUNCIL_MAX_PARALLEL", cls.max_parallel_workers,
                                         int),
            num_ctx=_number(env, "COUNCIL_NUM_CTX", cls.num_ctx, int),
            num_predict=_number(env, "COUNCIL_NUM_PREDICT", cls.num_predict, int),
            keep_alive=env.get("COUNCIL_KEEP_ALIVE") or cls.keep_alive,
            engine_worker_gguf=env.get("COUNCIL_ENGINE_WORKER_GGUF", ""),
            engine_synth_gguf=env.get("COUNCIL_ENGINE_SYNTH_GGUF", ""),
            engine_threads=_number(env, "COUNCIL_ENGINE_THREADS", cls.engine_threads, int,
                                   allow_zero=True),
            embedding_model=env.get("COUNCIL_EMBEDDING_MODEL") or "",
            model_cache_dir=Path(env.get("COUNCIL_MODEL_CACHE")
                                 or PROJECT_ROOT / "data" / "models"),
            loras_dir=Path(env.get("COUNCIL_LORAS_DIR") or PROJECT_ROOT / "loras"),
            train_base_model=env.get("COUNCIL_TRAIN_BASE_MODEL") or cls.train_base_model,
            router_top_k=_number(env, "COUNCIL_ROUTER_TOP_K", cls.router_top_k, int),
            router_temperature=_number(env, "COUNCIL_ROUTER_TEMPERATURE",
                                       cls.router_temperature),
            router_min_weight=_number(env, "COUNCIL_ROUTER_MIN_WEIGHT", cls.router_min_weight,
                                      allow_zero=True),
            router_exploration=_number(env, "COUNCIL_ROUTER_EXPLORATION",
                                       cls.router_exploration, allow_zero=True),
            router_max_unseen=_number(env, "COUNCIL_ROUTER_MAX_UNSEEN", cls.router_max_unseen,
                                      int),
            sentiment_swing=_number(env, "COUNCIL_SENTIMENT_SWING", cls.sentiment_swing,
                                    allow_zero=True),
            peer_review=(env.get("COUNCIL_PEER_REVIEW") or "").lower() in ("1", "true", "yes",
                                                                             "on"),
            max_upload_mb=_number(env, "COUNCIL_MAX_UPLOAD_MB", cls.max_upload_mb, int),
            max_rounds_per_client=_number(env, "COUNCIL_MAX_ROUNDS_PER_CLIENT",
                                          cls.max_rounds_per_client, int),
            host=env.get("COUNCIL_HOST") or cls.host,
            allowed_hosts=env.get("COUNCIL_ALLOWED_HOSTS", ""),
            port=_number(env, "COUNCIL_PORT", cls.port, int),
            secret_key=env.get("COUNCIL_SECRET_KEY", ""),
        )
        values.update(overrides)
        return cls(**values)

    def with_changes(self, **changes: Any) -> "Settings":
        """A copy with some fields changed; the database URL follows a new data dir unless given."""
        if "data_dir" in changes and "database_url" not in changes:
            changes["database_url"] = ""
        return replace(self, **changes)


ENVIRONMENT_VARIABLES = (
    "OLLAMA_HOST", "COUNCIL_BACKEND", "OPENAI_BASE_URL", "OPENAI_API_KEY",
    "COUNCIL_WORKER_MODEL", "COUNCIL_SYNTH_MODEL", "COUNCIL_DATA_DIR",
    "DATABASE_URL", "COUNCIL_WORKER_TIMEOUT", "COUNCIL_SYNTH_TIMEOUT", "COUNCIL_MAX_PARALLEL",
    "COUNCIL_NUM_CTX", "COUNCIL_NUM_PREDICT", "COUNCIL_KEEP_ALIVE", "COUNCIL_HOST", "COUNCIL_PORT",
    "COUNCIL_SECRET_KEY", "COUNCIL_EMBEDDING_MODEL", "COUNCIL_ROUTER_TOP_K",
    "COUNCIL_ROUTER_TEMPERATURE", "COUNCIL_ROUTER_MIN_WEIGHT", "COUNCIL_ROUTER_EXPLORATION",
    "COUNCIL_ROUTER_MAX_UNSEEN", "COUNCIL_SENTIMENT_SWING", "COUNCIL_PEER_REVIEW",
    "COUNCIL_MAX_UPLOAD_MB", "COUNCIL_MAX_ROUNDS_PER_CLIENT", "COUNCIL_ALLOWED_HOSTS",
    "COUNCIL_MODEL_CACHE", "COUNCIL_LORAS_DIR", "COUNCIL_TRAIN_BASE_MODEL",
    "COUNCIL_BACKEND_PARALLEL", "COUNCIL_ENGINE_WORKER_GGUF", "COUNCIL_ENGINE_SYNTH_GGUF",
    "COUNCIL_ENGINE_THREADS",
)
