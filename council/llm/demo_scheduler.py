"""How the demo server keeps models loaded, after Ollama's scheduler.

Read in ollama/ollama v0.33.0-rc2: server/sched.go (`schedulerModelKey`, `processPending`,
`needsReload`, `findRunnerToUnload`, `loadedModels`), llm/server.go (a loaded runner serves
OLLAMA_NUM_PARALLEL requests at once, the rest wait on its semaphore) and server/routes.go
(`PsHandler`; chat stats' `load_duration` is the time spent getting a runner). Imitated:

- runners are keyed by the weights file, so a base model and every adapter model created from
  it share one key; a request whose adapters (or context length) differ from the loaded
  runner's waits for it to go idle and reloads it;
- at most `max_loaded_models` runners (Ollama: 3 per GPU); one more evicts the least recently
  used idle runner, or waits for one to go idle;
- with `num_parallel` an int, each runner answers that many requests at once and queues the
  rest; with None nothing ever waits (the fast default of the tests: a reload or eviction then
  takes the runner away from requests still answering, which Ollama would wait for).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .demo_catalog import ModelSpec

KEEP_ALIVE = timedelta(minutes=5)  # Ollama's default keep_alive
ALREADY_LOADED_NS = 1_000_000  # what load_duration says when the runner was loaded already
DEFAULT_NUM_CTX = 4096


class Settings(Protocol):
    """The demo server's knobs the scheduler reads on every request (tests change them)."""

    max_loaded_models: int
    num_parallel: int | None
    load_seconds: float
    stopping: threading.Event


@dataclass
class Runner:
    """One loaded model: the request that loaded it names it in /api/ps."""

    spec: ModelSpec
    context_length: int
    active: int = 1
    loading: bool = True
    last_used: float = field(default_factory=time.monotonic)
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def serves(self, spec: ModelSpec, context_length: int) -> bool:
        """Whether a request for spec can use this runner without a reload."""
        return spec.adapters == self.spec.adapters and context_length == self.context_length

    def ps_entry(self) -> dict[str, Any]:
        """api/types.go `ProcessModelResponse`."""
        spec = self.spec
        return {"name": spec.name, "model": spec.name, "size": spec.size,
                "digest": spec.digest, "details": spec.details(),
                "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
                "size_vram": spec.size, "context_length": self.context_length}


class Scheduler:
    """Loaded runners by key; thread-safe, one condition for every wait."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: dict[str, Runner] = {}
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def serve(self, spec: ModelSpec, options: dict[str, Any]) -> Iterator[int]:
        """Hold a runner slot for spec while the body answers; yields load_duration in ns."""
        context_length = int(options.get("num_ctx") or DEFAULT_NUM_CTX)
        runner, load_ns = self._acquire(spec, context_length)
        try:
            yield load_ns
        finally:
            self._release(runner)

    def ps(self) -> list[dict[str, Any]]:
        """The loaded runners, the longest to live first (as PsHandler sorts them)."""
        with self._changed:
            runners = sorted(self._loaded.values(), key=lambda r: r.expires_at, reverse=True)
            return [runner.ps_entry() for runner in runners]

    def _acquire(self, spec: ModelSpec, context_length: int) -> tuple[Runner, int]:
        with self._changed:
            while True:
                runner = self._loaded.get(spec.runner_key)
                if runner is not None and runner.serves(spec, context_length):
                    if not runner.loading and self._has_slot(runner):
                        runner.active += 1
                        return runner, ALREADY_LOADED_NS
                elif runner is not None:
                    if not self._busy(runner):
                        del self._loaded[spec.runner_key]
                        continue
                elif self._room_for_one_more():
                    runner = Runner(spec, context_length)
                    self._loaded[spec.runner_key] = runner
                    break
                self._changed.wait()
        return runner, self._load(runner)

    def _load(self, runner: Runner) -> int:
        started = time.perf_counter_ns()
        if self.settings.load_seconds > 0:
            self.settings.stopping.wait(self.settings.load_seconds)
        elapsed = time.perf_counter_ns() - started
        with self._changed:
            runner.loading = False
            self._changed.notify_all()
        return elapsed

    def _release(self, runner: Runner) -> None:
        with self._changed:
            runner.active -= 1
            runner.last_used = time.monotonic()
            runner.expires_at = datetime.now(UTC) + KEEP_ALIVE
            self._changed.notify_all()

    def _has_slot(self, runner: Runner) -> bool:
        parallel = self.settings.num_parallel
        return parallel is None or runner.active < parallel

    def _busy(self, runner: Runner) -> bool:
        """Whether the runner may not be unloaded now (Ollama waits until its refCount is 0)."""
        return runner.loading or (self.settings.num_parallel is not None and runner.active > 0)

    def _room_for_one_more(self) -> bool:
        """Below the limit, or after evicting the least recently used idle runner."""
        if len(self._loaded) < self.settings.max_loaded_models:
            return True
        idle = [runner for runner in self._loaded.values() if not self._busy(runner)]
        if not idle:
            return False
        victim = min(idle, key=lambda runner: runner.last_used)
        del self._loaded[victim.spec.runner_key]
        return True
