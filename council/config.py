"""Settings, declared once: each field names its environment variable, parser and meaning.

That one declaration drives reading (`Settings.from_env`), what a job's subprocess inherits
(`Settings.job_environment`) and the README's Configuration table (`council settings
--markdown`, which tests/test_docs.py compares with the README). Every setting has a default
that works with no setup (Ollama when it runs, otherwise the embedded engine with the bundled
model). `Settings(...)` built directly reads no environment, so tests say what they mean.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .redact import redact_credentials

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"

Parser = Callable[[str], Any]
"""Raw environment text to a value; raises ValueError saying why the text is unusable."""


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


def positive(kind: type[int | float]) -> Parser:
    return _number(kind, allow_zero=False)


def non_negative(kind: type[int | float]) -> Parser:
    return _number(kind, allow_zero=True)


def _number(kind: type[int | float], allow_zero: bool) -> Parser:
    def parse(raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"is not a {kind.__name__}; unset it or give a number") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError("must be " + ("0 or more" if allow_zero else "greater than 0"))
        return value

    return parse


def choice(*allowed: str) -> Parser:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def quantize_type(raw: str) -> str:
    """An Ollama quantize type, upper-cased as Ollama reads it (imported here, not at the top:
    council.llm imports this module)."""
    from .llm.ollama_versions import normalise_quantize

    return normalise_quantize(raw)


def sampling(raw: str) -> str:
    """Repetition options as `name=value` pairs (imported here, not at the top: council.llm
    imports this module)."""
    from .llm.sampling import parse_sampling

    return parse_sampling(raw)


def switch(raw: str) -> bool:
    """On/off: 1, true, yes, on or 0, false, no, off (a typo is an error, not "off")."""
    value = raw.strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError("must be 1, true, yes, on or 0, false, no, off")
    return value in ("1", "true", "yes", "on")


def bounds(raw: str) -> tuple[float, float]:
    """`low,high`, as in COUNCIL_TEMPERATURE_BOUNDS=0.1,1.3."""
    try:
        low, high = (float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError("must be two numbers, low,high") from None
    if not 0 <= low <= high:
        raise ValueError("must be low,high with 0 <= low <= high")
    return low, high


def server_urls(raw: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs: COUNCIL_WORKER_HOSTS=http://gpu1:11434,http://gpu2:11434."""
    urls = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for url in urls:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 (reading it is the check)
        except ValueError:
            raise ValueError(f"names {redact_credentials(url)}, whose port is not a "
                             "number") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"names {redact_credentials(url)}, which is not an http:// or "
                             "https:// URL with a host")
    if len(set(urls)) < len(urls):
        raise ValueError("names a server twice")
    return urls


def render(value: Any) -> str:
    """A value spelled as its environment variable would be (the parsers read it back)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value)


@dataclass(frozen=True)
class Variable:
    """How one setting is read from the environment, and what the README says about it."""

    name: str
    doc: str
    parse: Parser
    shown_default: str | None  # the README's default when the value itself says too little
    for_jobs: bool  # a job's subprocess gets it; the web server's own settings stay behind
    secret: bool  # never printed (repr, `council settings`)
    attribute: str = ""
    default: Any = None

    def read(self, raw: str) -> Any:
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{self.name}={redact_credentials(raw)!r} {exc} "
                                f"(default {render(self.default) or 'empty'}).") from None

    @property
    def documented_default(self) -> str:
        return self.shown_default or f"`{render(self.default)}`"


def setting(default: Any, name: str, doc: str, parse: Parser = str, *,
            shown: str | None = None, for_jobs: bool = True, secret: bool = False) -> Any:
    """A dataclass field that declares its environment variable."""
    return field(default=default, repr=not secret,
                 metadata={"variable": Variable(name, doc, parse, shown, for_jobs, secret)})


BACKENDS = ("auto", "ollama", "openai", "embedded")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the app; built by `from_env`, replaced wholesale in tests."""

    ollama_host: str = setting("http://127.0.0.1:11434", "OLLAMA_HOST", "where Ollama listens")
    backend: str = setting(
        "auto", "COUNCIL_BACKEND",
        "`auto` (Ollama if it answers at start, else the embedded engine), `ollama`, `openai` for "
        "an OpenAI-compatible server (vLLM, llama.cpp's server), or `embedded`", choice(*BACKENDS))
    backend_parallel: int = setting(
        0, "COUNCIL_BACKEND_PARALLEL", "requests the backend runs at once; more wait their turn "
        "in the app (see *Engines*)", non_negative(int), shown="found out")
    engine_worker_gguf: str = setting(
        "", "COUNCIL_ENGINE_WORKER_GGUF", "the embedded engine's worker model, a `.gguf` path",
        shown="the bundled SmolLM2-135M")
    engine_synth_gguf: str = setting(
        "", "COUNCIL_ENGINE_SYNTH_GGUF", "the embedded engine's synthesizer model, a `.gguf` path",
        shown="the worker GGUF")
    engine_threads: int = setting(0, "COUNCIL_ENGINE_THREADS",
                                  "CPU threads the embedded engine uses", non_negative(int),
                                  shown="every core")
    openai_base_url: str = setting("http://127.0.0.1:8000/v1", "OPENAI_BASE_URL",
                                   "the OpenAI-compatible server, when `COUNCIL_BACKEND=openai`")
    openai_api_key: str = setting("", "OPENAI_API_KEY", "its API key, if it wants one",
                                  shown="empty", secret=True)
    worker_hosts: tuple[str, ...] = setting(
        (), "COUNCIL_WORKER_HOSTS", "several servers for the workers, comma-separated: Ollama "
        "hosts, or OpenAI base URLs (`http://host:port/v1`) with `COUNCIL_BACKEND=openai`; each "
        "worker goes to the least busy one that answers (see *Engines*)", server_urls,
        shown="empty: `OLLAMA_HOST` / `OPENAI_BASE_URL`")
    synth_hosts: tuple[str, ...] = setting(
        (), "COUNCIL_SYNTH_HOSTS", "the same for the synthesizer (and discovery's and training "
        "data's requests)", server_urls, shown="empty: `OLLAMA_HOST` / `OPENAI_BASE_URL`")
    server_retry: float = setting(
        10.0, "COUNCIL_SERVER_RETRY", "seconds between asking a server that stopped answering "
        "whether it is back (it rejoins when it answers)", positive(float))
    worker_model: str = setting("qwen2.5:3b", "COUNCIL_WORKER_MODEL", "model for personas that "
                                "name none (Ollama / OpenAI-compatible)")
    synth_model: str = setting("qwen2.5:7b", "COUNCIL_SYNTH_MODEL",
                               "the synthesizer (Ollama / OpenAI-compatible)")
    data_dir: Path = setting(DEFAULT_DATA_DIR, "COUNCIL_DATA_DIR",
                             "database and other runtime files", Path, shown="`./data`")
    database_url: str = setting("", "DATABASE_URL",
                                "any SQLAlchemy URL (SQLite runs in WAL mode)",
                                shown="`sqlite:///$COUNCIL_DATA_DIR/council.db`")
    worker_timeout: float = setting(
        120.0, "COUNCIL_WORKER_TIMEOUT", "seconds one worker may take before it is marked timed "
        "out, counted from when the model turns to it (not while it waits its turn)",
        positive(float))
    synth_timeout: float = setting(300.0, "COUNCIL_SYNTH_TIMEOUT",
                                   "seconds the synthesis may take", positive(float))
    max_parallel_workers: int = setting(4, "COUNCIL_MAX_PARALLEL", "workers streaming at once "
                                        "(more wait their turn)", positive(int))
    num_ctx: int = setting(
        4096, "COUNCIL_NUM_CTX", "context window (the embedded engine's, and asked of Ollama); "
        "history is trimmed to fit, measured in the model's own tokens", positive(int))
    num_predict: int = setting(1024, "COUNCIL_NUM_PREDICT", "most tokens per answer",
                               positive(int))
    worker_sampling: str = setting(
        "", "COUNCIL_WORKER_SAMPLING", "how workers are kept from repeating themselves: "
        "`name=value` pairs, comma-separated, in Ollama's option names (`repeat_penalty`, "
        "`repeat_last_n`, `frequency_penalty`, `presence_penalty`, and for the embedded engine "
        "`dry_multiplier`, `dry_base`, `dry_allowed_length`, `dry_penalty_last_n`); a persona's "
        "own sampling wins. Each backend takes what it can (see *Repetition*)", sampling,
        shown="empty: the embedded engine's `repeat_penalty=1.1,repeat_last_n=64,"
        "dry_multiplier=0.8`, Ollama's and the server's own")
    synth_sampling: str = setting(
        "", "COUNCIL_SYNTH_SAMPLING", "the same for the synthesizer", sampling,
        shown="empty: as for workers")
    keep_alive: str = setting("10m", "COUNCIL_KEEP_ALIVE",
                              "how long Ollama keeps models loaded after a request")
    embedding_model: str = setting(
        "", "COUNCIL_EMBEDDING_MODEL", "sentence-transformers model name or local path for the "
        "router", shown="packaged all-MiniLM-L6-v2")
    loras_dir: Path = setting(None, "COUNCIL_LORAS_DIR", "trained adapters, one folder per "
                              "persona", Path, shown="`$COUNCIL_DATA_DIR/loras` when "
                              "`COUNCIL_DATA_DIR` is set, else `./loras`")
    train_base_model: str = setting(
        "Qwen/Qwen2.5-3B-Instruct", "COUNCIL_TRAIN_BASE_MODEL", "with Ollama or an "
        "OpenAI-compatible server: the transformers model (local folder or cached hub id, never "
        "downloaded) that adapters are trained on; the served worker model must be the same "
        "weights. The embedded engine ignores it and trains on the GGUF the persona answers with")
    ollama_quantize: str = setting(
        "Q4_K_M", "COUNCIL_OLLAMA_QUANTIZE", "what Ollama quantizes a persona's merged model to "
        "when it imports it (a server that refuses the adapter model, or whose adapter model "
        "cannot answer): `F32`, `F16`, `BF16`, `Q8_0`, `Q4_K_S`, `Q4_K_M` or `Q4_K` (any case; "
        "`F16` is Ollama's unquantized import); each merged persona is a model of its own",
        quantize_type)
    model_cache_dir: Path = setting(
        None, "COUNCIL_MODEL_CACHE", "where models derived on first use are kept (discovery's "
        "int8 ONNX MiniLM, built once in ~10 s)", Path, shown="`$COUNCIL_DATA_DIR/models`")
    router_top_k: int = setting(3, "COUNCIL_ROUTER_TOP_K", "how many personas speak per message",
                                positive(int))
    router_temperature: float = setting(1.0, "COUNCIL_ROUTER_TEMPERATURE", "softmax temperature "
                                        "of the gate (lower = more decisive)", positive(float))
    router_min_weight: float = setting(
        0.05, "COUNCIL_ROUTER_MIN_WEIGHT", "personas below this weight stay silent (the best one "
        "always speaks)", non_negative(float))
    router_similarity_scale: float = setting(
        8.0, "COUNCIL_ROUTER_SIMILARITY_SCALE", "how much the message's similarity to a persona's "
        "prototype moves its logit (cosine × this)", non_negative(float))
    router_gate_strength: float = setting(
        1.0, "COUNCIL_ROUTER_GATE_STRENGTH", "weight of the gates learned from the personas' "
        "examples and from votes (0 turns them off)", non_negative(float))
    router_merit_strength: float = setting(
        1.0, "COUNCIL_ROUTER_MERIT_STRENGTH", "weight of the merit prior from pairwise wins and "
        "losses (0 turns it off)", non_negative(float))
    router_rule_strength: float = setting(
        0.5, "COUNCIL_ROUTER_RULE_STRENGTH", "how much each of a persona's `prefer` / `avoid` "
        "rules that holds moves its logit", non_negative(float))
    router_exploration: float = setting(
        0.3, "COUNCIL_ROUTER_EXPLORATION", "exploration bonus for rarely shown personas (0 turns "
        "it off)", non_negative(float))
    router_max_unseen: int = setting(8, "COUNCIL_ROUTER_MAX_UNSEEN", "a persona unseen for this "
                                     "many rounds is given a turn", positive(int))
    sentiment_swing: float = setting(
        0.25, "COUNCIL_SENTIMENT_SWING", "how much message sentiment moves temperature/top-p "
        "(±25%, within `COUNCIL_TEMPERATURE_BOUNDS` / `COUNCIL_TOP_P_BOUNDS`)",
        non_negative(float))
    temperature_bounds: tuple[float, float] = setting(
        (0.1, 1.3), "COUNCIL_TEMPERATURE_BOUNDS", "`low,high` a sentiment-tuned temperature stays "
        "within (a persona's own temperature outside them is kept)", bounds)
    top_p_bounds: tuple[float, float] = setting(
        (0.5, 1.0), "COUNCIL_TOP_P_BOUNDS", "`low,high` a sentiment-tuned top-p stays within",
        bounds)
    peer_review: bool = setting(
        False, "COUNCIL_PEER_REVIEW", "`1` adds peer review to every round (the council page "
        "also has a per-question checkbox)", switch, shown="off")
    compare: bool = setting(
        False, "COUNCIL_COMPARE", "`1` ticks Compare on the council page until you untick it: "
        "the synthesizer model also answers alone, and the page asks which of the two answers "
        "is better, names hidden (a round asked without saying is a compare round too)", switch,
        shown="off")
    compare_every: int = setting(
        0, "COUNCIL_COMPARE_EVERY", "makes every round whose id is a multiple of N a compare "
        "round, ticked or not (0: only the ticked ones)", non_negative(int), shown="`0`: never")
    max_export_mb: int = setting(4096, "COUNCIL_MAX_EXPORT_MB", "most JSON discovery reads "
                                 "from one export, in MiB (counted after unzipping)",
                                 positive(int))
    max_export_depth: int = setting(64, "COUNCIL_MAX_EXPORT_DEPTH", "deepest nesting of lists "
                                    "and objects an export may have (ChatGPT's is about 10)",
                                    positive(int))
    max_conversation_mb: int = setting(256, "COUNCIL_MAX_CONVERSATION_MB", "largest single "
                                       "conversation (or any one value) in an export, in MiB",
                                       positive(int))
    max_conversation_values: int = setting(
        2_000_000, "COUNCIL_MAX_CONVERSATION_VALUES", "most JSON values (strings, numbers, "
        "lists, objects) in one conversation of an export", positive(int))
    max_messages: int = setting(1_000_000, "COUNCIL_MAX_MESSAGES", "most user messages "
                                "discovery takes from one export", positive(int))
    max_message_kb: int = setting(1024, "COUNCIL_MAX_MESSAGE_KB", "longer user messages are "
                                  "skipped (with a warning) as pasted data, in KiB",
                                  positive(int))
    max_zip_index_mb: int = setting(16, "COUNCIL_MAX_ZIP_INDEX_MB", "largest table of contents "
                                    "(central directory) of an export zip, in MiB",
                                    positive(int))
    max_upload_mb: int = setting(2048, "COUNCIL_MAX_UPLOAD_MB", "largest chat export the "
                                 "Discover page accepts, in MiB", positive(int), for_jobs=False)
    keep_uploads: int = setting(
        5, "COUNCIL_KEEP_UPLOADS", "uploaded exports kept in `raw_imports/` (the newest; the one "
        "the last discovery ran on always stays)", positive(int), for_jobs=False)
    max_rounds_per_client: int = setting(
        3, "COUNCIL_MAX_ROUNDS_PER_CLIENT", "rounds one browser tab may have running at once",
        positive(int), for_jobs=False)
    max_rounds: int = setting(
        12, "COUNCIL_MAX_ROUNDS", "rounds running at once over all tabs (more are refused until "
        "one ends)", positive(int), for_jobs=False)
    allowed_hosts: str = setting(
        "", "COUNCIL_ALLOWED_HOSTS", "extra host names (comma-separated) the app answers to, "
        "besides localhost, 127.0.0.1, ::1 and the bound address", shown="empty", for_jobs=False)
    host: str = setting("127.0.0.1", "COUNCIL_HOST", "address to bind; anything but localhost "
                        "needs `--allow-remote`", for_jobs=False)
    port: int = setting(5000, "COUNCIL_PORT", "port to bind", positive(int), for_jobs=False)
    server_threads: int = setting(
        256, "COUNCIL_SERVER_THREADS", "threads of the app's server; each open browser tab holds "
        "one for its WebSocket", positive(int), for_jobs=False)
    redis_url: str = setting(
        "", "COUNCIL_REDIS_URL", "Redis for several app processes (`redis://host:6379/0`): "
        "Socket.IO events reach a tab whichever process it is connected to (see *Scale-out*)",
        shown="empty: one process", for_jobs=False, secret=True)
    secret_key: str = setting("", "COUNCIL_SECRET_KEY", "Flask session key",
                              shown="random per start", for_jobs=False, secret=True)
    demo: bool = False  # set by `council demo`, never by the environment

    def __post_init__(self) -> None:
        if not self.database_url:
            default_url = f"sqlite:///{Path(self.data_dir) / 'council.db'}"
            object.__setattr__(self, "database_url", default_url)
        for name, derived in self._under_data_dir(Path(self.data_dir)).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, derived)

    @staticmethod
    def _under_data_dir(data_dir: Path) -> dict[str, Path]:
        """The folders whose defaults follow the data dir (runtime files stay under it; only
        the checkout's own `./data` keeps adapters in `./loras`, where they always were)."""
        loras = PROJECT_ROOT / "loras" if data_dir == DEFAULT_DATA_DIR else data_dir / "loras"
        return {"loras_dir": loras, "model_cache_dir": data_dir / "models"}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the declared environment variables (empty = unset); keyword overrides win."""
        env = os.environ if env is None else env
        values = {variable.attribute: variable.read(env[variable.name])
                  for variable in VARIABLES if env.get(variable.name)}
        return cls(**{**values, **overrides})

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed; the database URL, and the folders that were left to
        follow the data dir, follow a new data dir unless given."""
        if "data_dir" in changes:
            changes.setdefault("database_url", "")
            for name, derived in self._under_data_dir(Path(self.data_dir)).items():
                if getattr(self, name) == derived:
                    changes.setdefault(name, None)
        return replace(self, **changes)

    def job_environment(self) -> dict[str, str]:
        """The settings a job's subprocess needs, as the variables `from_env` reads back."""
        return {variable.name: render(getattr(self, variable.attribute))
                for variable in VARIABLES if variable.for_jobs}


VARIABLES: tuple[Variable, ...] = tuple(
    replace(item.metadata["variable"], attribute=item.name, default=item.default)
    for item in fields(Settings) if "variable" in item.metadata)
"""Every declared setting, in declaration order (the README's order)."""
