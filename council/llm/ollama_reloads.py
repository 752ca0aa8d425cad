"""Which stored answers waited for Ollama to load a model it should still have had loaded.

Every chat answer carries Ollama's `load_duration`: milliseconds when the model's runner was
loaded, seconds when the request (re)loaded it. A load is expected the first time a model is
used, or after it sat unused for longer than keep-alive; a load of a model that finished an
answer within keep-alive before means it was evicted (more models than the server keeps
loaded) or its runner was reloaded for another adapter set (server/sched.go `needsReload`,
Ollama v0.33.0-rc2).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

RELOAD_S = 0.25  # a load this long read the weights again; a loaded runner answers in ms
DEFAULT_KEEP_ALIVE_S = 300.0  # Ollama's own default, for a keep-alive it would not parse
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class ModelUse:
    """One stored generation: the model it named, when it ran, and its load time."""

    model: str
    started: datetime
    finished: datetime | None
    load_s: float | None


def keep_alive_seconds(keep_alive: str) -> float:
    """COUNCIL_KEEP_ALIVE as Ollama reads it: a Go duration (`10m`, `1h30m`) or seconds;
    negative is forever."""
    text = keep_alive.strip()
    try:
        seconds = float(text)
    except ValueError:
        sign = -1.0 if text.startswith("-") else 1.0
        parts = _DURATION_PART.findall(text.lstrip("+-"))
        if not parts or "".join(n + u for n, u in parts) != text.lstrip("+-"):
            return DEFAULT_KEEP_ALIVE_S
        seconds = sign * sum(float(number) * _UNIT_S[unit] for number, unit in parts)
    return math.inf if seconds < 0 else seconds


def observed_reloads(uses: Iterable[ModelUse], keep_alive_s: float) -> list[tuple[str, int]]:
    """(model, times) for each model that loaded again within keep-alive of an answer it had
    finished: only answers that finished before the loading one started count, since the
    requests that waited for the same load all report it."""
    finished: dict[str, list[datetime]] = {}
    reloads: Counter[str] = Counter()
    for use in sorted(uses, key=lambda use: use.started):
        before = [end for end in finished.get(use.model, []) if end <= use.started]
        if (use.load_s is not None and use.load_s >= RELOAD_S and before
                and (use.started - max(before)).total_seconds() <= keep_alive_s):
            reloads[use.model] += 1
        if use.finished is not None:
            finished.setdefault(use.model, []).append(use.finished)
    return sorted(reloads.items())
