"""Does the council fit what an Ollama server keeps loaded? The runners a round needs on one
server, the requests each takes at once, the settings to start Ollama with, and their memory.

Read in ollama/ollama v0.33.0-rc2 (the facts behind ollama_versions.py's defaults):

- envconfig/config.go: `OLLAMA_NUM_PARALLEL` defaults to 1, `OLLAMA_MAX_LOADED_MODELS` to 0,
  which server/sched.go turns into `defaultModelsPerGPU` (3) × the number of GPUs.
- server/sched.go: runners are keyed by the model's weights file (`schedulerModelKey`), so a
  model created from a base with an `ADAPTER` runs in the base's runner, and `needsReload`
  reloads that runner whenever the requested adapter set differs from the loaded one. Every
  runner is loaded with the one server-wide `numParallel`.
- llm/llama_server.go: a runner starts with `-c NumCtx×numParallel -np numParallel`, so
  `OLLAMA_NUM_PARALLEL` multiplies the KV cache of every loaded model.
- server/routes.go `PsHandler`: `/api/ps` lists the loaded runners; neither setting is
  reported by any endpoint, so the defaults are assumed unless `/api/ps` shows more loaded.

Everything here is plain data in, plain data out: `council/web/fit.py` gathers the personas,
the stored answers and what each server says, and the pages show the `ServerFit`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..units import human_size
from .ollama_versions import DEFAULT_MAX_LOADED_MODELS_PER_GPU, DEFAULT_NUM_PARALLEL

PROMPT_ONLY = "prompt-only"  # the adapter set of a request that names the base itself
F16_BYTES = 2  # one K or V value in Ollama's default cache type


@dataclass(frozen=True)
class Speaker:
    """A persona as a server answers it: the model whose runner serves it (the base, for a
    model created with an adapter) and that adapter model, if any."""

    name: str
    runner: str
    adapter: str | None = None


@dataclass(frozen=True)
class RoundShape:
    """What one round asks of the servers (from the settings)."""

    top_k: int  # personas that speak per message
    max_parallel: int  # workers streaming at once
    synth_model: str
    compare: bool  # the synthesizer model also answers alone, beside the workers
    num_ctx: int


@dataclass(frozen=True)
class Runner:
    """One model a round may need loaded: who uses it, the adapter sets it is asked with (more
    than one means reloads), and the requests it gets at once."""

    model: str
    users: tuple[str, ...]
    adapter_sets: tuple[str, ...]
    at_once: int

    @property
    def reloads_between_adapters(self) -> bool:
        return len(self.adapter_sets) > 1


@dataclass(frozen=True)
class ModelFacts:
    """What the server says of one model: its weights (`/api/tags` size), the bytes of K and V
    one token takes in one slot (`/api/show` model_info, F16 cache) and its trained context
    (Ollama never gives a slot more)."""

    weights: int | None = None
    kv_per_token: int | None = None
    context_length: int | None = None


@dataclass(frozen=True)
class Loaded:
    """A runner `/api/ps` lists: its model, memory and context per slot."""

    name: str
    size: int
    context_length: int | None = None


@dataclass(frozen=True)
class Memory:
    """The memory the settings take: the sum of what is known, and the parts that are not."""

    total: int
    missing: tuple[str, ...]

    def describe(self) -> str:
        if not self.total and self.missing:
            return "unknown: " + "; ".join(self.missing)
        text = f"≈ {human_size(self.total)}"
        return text + (f", not counting {'; '.join(self.missing)}" if self.missing else "")


@dataclass(frozen=True)
class ServerFit:
    """Whether the council fits one server, what was seen going wrong, and what to run."""

    host: str
    runners: tuple[Runner, ...]
    keeps: int  # models the server keeps loaded, as far as the app can know
    parallel: int  # OLLAMA_NUM_PARALLEL the busiest runner needs
    memory: Memory
    loaded: tuple[Loaded, ...] = ()
    reloads: tuple[tuple[str, int], ...] = ()  # (model, times) seen in recent answers
    per_round: int = 0  # models one round can use at once

    @property
    def needed(self) -> int:
        return len(self.runners)

    @property
    def command(self) -> str:
        return (f"OLLAMA_MAX_LOADED_MODELS={max(self.needed, 1)} "
                f"OLLAMA_NUM_PARALLEL={self.parallel} ollama serve")

    @property
    def problems(self) -> list[str]:
        """What goes wrong with the defaults, in the words the pages show."""
        problems = []
        if self.needed > self.keeps:
            names = ", ".join(runner.model for runner in self.runners)
            problems.append(
                f"This council needs {self.needed} models on {self.host} ({names}); Ollama keeps "
                f"{self.keeps} loaded by default (3 per GPU), so rounds evict models and load "
                f"them again. Start it with OLLAMA_MAX_LOADED_MODELS={self.needed}.")
        for runner in self.runners:
            if runner.at_once > DEFAULT_NUM_PARALLEL:
                problems.append(
                    f"{runner.at_once} requests at once go to {runner.model}; with "
                    f"OLLAMA_NUM_PARALLEL={DEFAULT_NUM_PARALLEL} (the default) they answer one "
                    f"after another. Start Ollama with OLLAMA_NUM_PARALLEL={self.parallel}.")
            if runner.reloads_between_adapters:
                problems.append(
                    f"{runner.model} is asked with {len(runner.adapter_sets)} adapter sets "
                    f"({', '.join(runner.adapter_sets)}): they share one runner, and Ollama "
                    "reloads it at every change. No setting avoids this: serve those personas "
                    "as merged models, or their adapters from vLLM or the embedded engine.")
        for model, times in self.reloads:
            problems.append(f"{model} was loaded again {times} time(s) in recent rounds while it "
                            "should still have been loaded (evicted, or its adapter changed).")
        return problems

    def as_dict(self) -> dict[str, object]:
        return {"host": self.host, "needed": self.needed, "keeps": self.keeps,
                "per_round": self.per_round, "parallel": self.parallel,
                "models": [{"name": r.model, "used_by": list(r.users),
                            "adapter_sets": list(r.adapter_sets), "at_once": r.at_once}
                           for r in self.runners],
                "loaded": [{"name": m.name, "size": m.size, "size_text": human_size(m.size),
                            "context_length": m.context_length} for m in self.loaded],
                "reloads": [{"model": model, "times": times} for model, times in self.reloads],
                "memory": self.memory.total, "memory_missing": list(self.memory.missing),
                "memory_text": self.memory.describe(), "problems": self.problems,
                "command": self.command, "fits": not self.problems}


def runners_needed(speakers: Iterable[Speaker], shape: RoundShape,
                   serves_synthesizer: bool) -> tuple[Runner, ...]:
    """The runners a server needs: one per model that answers a speaker (adapter models on
    their base's), and the synthesizer's when the server serves it."""
    users: dict[str, list[str]] = {}
    sets: dict[str, list[str]] = {}
    for speaker in speakers:
        users.setdefault(speaker.runner, []).append(speaker.name)
        adapter_set = speaker.adapter or PROMPT_ONLY
        if adapter_set not in sets.setdefault(speaker.runner, []):
            sets[speaker.runner].append(adapter_set)
    synth_extra = 1 if shape.compare else 0  # the solo answer streams beside the workers
    if serves_synthesizer:
        users.setdefault(shape.synth_model, []).append("synthesizer")
        if PROMPT_ONLY not in sets.setdefault(shape.synth_model, []):
            sets[shape.synth_model].append(PROMPT_ONLY)
    runners = []
    for model, names in users.items():
        workers = min(shape.top_k, shape.max_parallel,
                      len([name for name in names if name != "synthesizer"]))
        at_once = workers
        if serves_synthesizer and model == shape.synth_model:
            at_once = max(workers + synth_extra, 1 + synth_extra)
        runners.append(Runner(model, tuple(names), tuple(sets[model]), max(at_once, 1)))
    return tuple(runners)


def models_per_round(runners: tuple[Runner, ...], shape: RoundShape) -> int:
    """The most models one round uses: the runners of top-k personas, and the synthesizer's."""
    persona_runners = [r for r in runners if set(r.users) != {"synthesizer"}]
    synth_alone = len(persona_runners) < len(runners)
    return min(shape.top_k, len(persona_runners)) + (1 if synth_alone else 0)


def memory_of(runners: Iterable[Runner], facts: dict[str, ModelFacts], num_ctx: int,
              parallel: int) -> Memory:
    """Weights + KV cache of every runner: KV = context per slot (num_ctx, capped at the
    model's trained context) × parallel slots × bytes per token."""
    total, missing = 0, []
    for runner in runners:
        known = facts.get(runner.model, ModelFacts())
        if known.weights is None:
            missing.append(f"the weights of {runner.model} (not on the server)")
        else:
            total += known.weights
        if known.kv_per_token is None:
            missing.append(f"the KV cache of {runner.model} (no layer and head counts "
                           "from /api/show)")
        else:
            context = min(num_ctx, known.context_length or num_ctx)
            total += kv_cache_bytes(known.kv_per_token, context, parallel)
    return Memory(total, tuple(missing))


def kv_cache_bytes(per_token: int, context: int, parallel: int) -> int:
    return per_token * context * parallel


def fit_server(host: str, runners: tuple[Runner, ...], shape: RoundShape,
               facts: dict[str, ModelFacts], loaded: Iterable[Loaded] = (),
               reloads: Iterable[tuple[str, int]] = ()) -> ServerFit:
    """The settings the council needs on one server, against what it keeps by default (or
    the more `/api/ps` shows loaded, which only a raised OLLAMA_MAX_LOADED_MODELS allows)."""
    loaded = tuple(loaded)
    parallel = max([DEFAULT_NUM_PARALLEL, *(runner.at_once for runner in runners)])
    keeps = max(DEFAULT_MAX_LOADED_MODELS_PER_GPU, len(loaded))
    served = {name for runner in runners for name in (runner.model, *runner.adapter_sets)}
    return ServerFit(host, runners, keeps, parallel,
                     memory_of(runners, facts, shape.num_ctx, parallel), loaded,
                     tuple((model, times) for model, times in reloads if model in served),
                     models_per_round(runners, shape))


def kv_per_token(model_info: dict[str, object]) -> int | None:
    """2 (K and V) × layers × KV heads × head size × 2 bytes, from `<arch>.block_count`,
    `<arch>.attention.head_count(_kv)`, `<arch>.embedding_length` (or `key_length` /
    `value_length` where the model states them); None when model_info lacks them."""
    prefix = f"{model_info.get('general.architecture')}."

    def number(key: str) -> int | None:
        value = model_info.get(prefix + key)
        return value if isinstance(value, int) and value > 0 else None

    layers, heads = number("block_count"), number("attention.head_count")
    per_layer = model_info.get(prefix + "attention.head_count_kv")  # a list in some models
    if isinstance(per_layer, list):
        kv_heads = sum(n for n in per_layer if isinstance(n, int))
    else:
        kv_heads = (number("attention.head_count_kv") or heads or 0) * (layers or 0)
    embedding = number("embedding_length")
    head_size = embedding // heads if embedding and heads else None
    key = number("attention.key_length") or head_size
    value = number("attention.value_length") or head_size
    if not (layers and kv_heads and key and value):
        return None
    return kv_heads * (key + value) * F16_BYTES
