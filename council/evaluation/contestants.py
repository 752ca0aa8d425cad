"""Who answers an eval question: the council as configured, or one model alone.

`CouncilContestant` runs a round's own stages (router, workers in parallel, synthesis:
council/rounds/stages.py) without storing a conversation or moving the router's exploration
counts, so an eval neither shows up in the user's history nor changes what the app routes
next. `ModelContestant` is the synthesizer model alone (`solo`), one persona alone, or any
model the backend serves (`--also`). Each has a `key` that fingerprints what answers, so the
eval's cache answers again when a prompt, a model or a setting changes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ..config import Settings
from ..leaderboard import point_ratings
from ..llm.base import ChatBackend, ChatStats
from ..llm.roles import Backends
from ..models import Persona
from ..personas import list_personas
from ..prompts import SOLO_SYSTEM_PROMPT, SYNTH_SYSTEM_PROMPT
from ..rounds.plan import PlannedWorker
from ..rounds.stages import (
    labelled_answers,
    planned_workers,
    synth_options,
    synthesis_generation,
    worker_generation,
)
from ..rounds.streams import Generation, RoundControl, run_generations, usable_answers
from ..router import Router
from ..variants import Serving, plan_answer
from ..votes import merit_counts

SessionScope = Callable[[], AbstractContextManager[Session]]
COUNCIL, SOLO = "council", "solo"


@dataclass(frozen=True)
class Answer:
    """A contestant's answer: its text, or why it failed; wall seconds and generated tokens
    over all the generations it took (a council's workers and synthesis)."""

    text: str
    status: str
    error: str | None
    seconds: float
    tokens: int


class Contestant(Protocol):
    name: str

    @property
    def key(self) -> str: ...

    @property
    def models(self) -> frozenset[str]:
        """The models it answers with: the report warns when the judge is one of them."""

    def answer(self, question: str) -> Answer: ...


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()) \
        .hexdigest()[:32]


def _ignore_token(_delta: str, _index: int) -> None:
    """Eval answers are not streamed anywhere while they are written."""


def _stream(backend: ChatBackend, settings: Settings, gens: list[Generation],
            timeout: float) -> None:
    run_generations(backend, RoundControl(0), gens, timeout, settings.max_parallel_workers,
                    lambda _gen: None)


def _tokens(gens: list[Generation]) -> int:
    return sum((gen.stats or ChatStats()).eval_count or 0 for gen in gens)


@dataclass(frozen=True)
class ModelContestant:
    """One model with one system prompt, asked the question alone."""

    name: str
    backend: ChatBackend
    settings: Settings
    worker: PlannedWorker
    timeout: float

    @property
    def key(self) -> str:
        w = self.worker
        return fingerprint("model", w.model, w.variant, w.system_prompt, w.options,
                           self.settings.num_ctx)

    @property
    def models(self) -> frozenset[str]:
        return frozenset({self.worker.model})

    def answer(self, question: str) -> Answer:
        started = time.monotonic()
        gen = worker_generation(self.backend, self.settings, self.worker, [], question,
                                _ignore_token)
        _stream(self.backend, self.settings, [gen], self.timeout)
        return Answer(gen.text, "done" if gen.status == "done" and gen.text.strip()
                      else "failed", _failure(gen), time.monotonic() - started, _tokens([gen]))


def _failure(gen: Generation) -> str | None:
    if gen.status == "done":
        return None if gen.text.strip() else "The model answered with no text."
    return gen.error or gen.status


def solo_contestant(backends: Backends, settings: Settings, model: str,
                    name: str = SOLO) -> ModelContestant:
    """A model alone with the neutral prompt: the synthesizer model (`solo`) or an --also
    model, sampled as the synthesizer is."""
    worker = PlannedWorker(0, name, "", SOLO_SYSTEM_PROMPT, model, "prompt", 1.0,
                           synth_options(settings))
    return ModelContestant(name, backends.synthesizer, settings, worker, settings.synth_timeout)


def persona_contestant(backends: Backends, settings: Settings,
                       persona: Persona) -> ModelContestant:
    """A persona alone: its prompt, its model or adapter as a round would plan it, and its
    own temperature and top-p."""
    answering = plan_answer(persona, [], Serving.of(backends.workers), settings.worker_model)
    options: dict[str, Any] = {"temperature": persona.temperature, "top_p": persona.top_p,
                               "num_ctx": settings.num_ctx, "num_predict": settings.num_predict}
    if answering.adapters:
        options["adapters"] = answering.adapters
    worker = PlannedWorker(persona.id, persona.name, persona.color, persona.system_prompt,
                           answering.model, answering.variant, 1.0, options)
    return ModelContestant(persona.slug, backends.workers, settings, worker,
                           settings.worker_timeout)


@dataclass
class CouncilContestant:
    """The council as configured: the router picks and weighs, the workers answer at once,
    the synthesizer merges (without peer review, and with no earlier turns)."""

    backends: Backends
    settings: Settings
    router: Router
    sessions: SessionScope
    synth_model: str
    name: str = COUNCIL

    @property
    def key(self) -> str:
        with self.sessions() as session:
            personas = [(p.slug, p.system_prompt, p.model, p.current_variant, p.adapter_model,
                         p.temperature, p.top_p, p.enabled)
                        for p in list_personas(session)]
        s = self.settings
        return fingerprint("council", s.worker_model, self.synth_model, personas,
                           SYNTH_SYSTEM_PROMPT, s.router_top_k, s.router_min_weight,
                           s.num_ctx, s.num_predict)

    @property
    def models(self) -> frozenset[str]:
        with self.sessions() as session:
            personas = list_personas(session, enabled_only=True)
        return frozenset({self.synth_model, self.settings.worker_model,
                          *(p.model for p in personas if p.model)})

    def answer(self, question: str) -> Answer:
        started = time.monotonic()
        with self.sessions() as session:
            personas = list_personas(session)
            decision = self.router.route(session, personas, question, merit_counts(session))
            ratings = point_ratings(session)
        # each worker's generation is told apart by its answer id, as in a stored round
        planned = [replace(worker, answer_id=index + 1) for index, worker in
                   enumerate(planned_workers(decision, self.backends.workers, self.settings))]
        if not planned:
            return Answer("", "failed", "No persona is enabled.", 0.0, 0)
        workers = [worker_generation(self.backends.workers, self.settings, worker, [],
                                     question, _ignore_token) for worker in planned]
        _stream(self.backends.workers, self.settings, workers, self.settings.worker_timeout)
        usable = usable_answers(workers)
        if not usable:
            reasons = "; ".join(f"{gen.model}: {gen.error or gen.status}" for gen in workers)
            return Answer("", "failed", f"Every worker failed: {reasons}",
                          time.monotonic() - started, _tokens(workers))
        synthesis = synthesis_generation(
            self.backends.synthesizer, self.settings, 0, self.synth_model, [], question,
            labelled_answers(planned, usable, ratings, {}, blind=False), _ignore_token)
        _stream(self.backends.synthesizer, self.settings, [synthesis],
                self.settings.synth_timeout)
        return Answer(synthesis.text, "done" if synthesis.status == "done"
                      and synthesis.text.strip() else "failed", _failure(synthesis),
                      time.monotonic() - started, _tokens([*workers, synthesis]))
