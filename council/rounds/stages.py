"""A council round as stages, each taking the previous stage's output:

    plan = route(router, store, backends.workers, settings, request)   who speaks, rows written
    workers = run_workers(run, plan)                  every worker streams at once
    peer = review(run, plan, workers)                 optional (review.py)
    outcome = synthesize(run, plan, workers, peer)    the answers merged into one

`Council` (`__init__.py`) runs them on a thread per round; `RoundStore` writes every row; the
stages emit the round's events through `RoundRun.emit`. Workers and reviews stream from
`backends.workers`, the synthesis from `backends.synthesizer` (the same backend unless the
settings list separate servers for each: `council.llm.roles`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..llm.base import ChatBackend, ChatMessage
from ..llm.roles import Backends
from ..llm.sampling import sampling_options
from ..models import Synthesis, WorkerAnswer
from ..personas import list_personas
from ..prompts import (LabelledAnswer, PastRound, strip_answer_label, synthesis_messages,
                       worker_messages)
from ..router import Route, RouteDecision, Router
from ..router.generation import tune_for_sentiment
from ..variants import Serving, plan_answer
from ..votes import merit_counts
from .choice import chosen_personas
from .plan import Emit, PlannedWorker, RoundError, RoundOutcome, RoundPlan, RoundRequest
from .store import RoundStore
from .streams import Generation, RoundControl, prepared_generation, run_generations, usable_answers

SYNTH_TEMPERATURE = 0.4


@dataclass(frozen=True)
class RoundRun:
    """What the stages of one running round share. `live` holds its generations while they
    stream (a worker's by answer id, the synthesis under "synthesis"), for pages that open the
    conversation mid-round."""

    backends: Backends
    settings: Settings
    store: RoundStore
    control: RoundControl
    emit: Emit
    live: dict[int | str, Generation] = field(default_factory=dict)

    @property
    def round_id(self) -> int:
        return self.control.round_id

    def stream(self, backend: ChatBackend, gens: list[Generation], timeout: float,
               on_finish: Callable[[Generation], None]) -> None:
        run_generations(backend, self.control, gens, timeout,
                        self.settings.max_parallel_workers, on_finish)


def token_counter(backend: ChatBackend, model: str) -> Callable[[list[ChatMessage]], int]:
    return lambda messages: backend.count_tokens(model, messages)


def route(router: Router, store: RoundStore, backend: ChatBackend, settings: Settings,
          request: RoundRequest) -> RoundPlan:
    """Weigh every persona for the question, plan what each selected one answers with, and
    store the round; exploration counts move only for a round that was stored."""
    with store.session() as session:
        personas = list_personas(session)
        choice = chosen_personas(request.question, request.personas, personas)
        decision = router.route(session, personas, request.question, merit_counts(session),
                                choice.ids)
    if not decision.selected:
        raise RoundError("No persona is enabled. Enable one on the Personas page.")
    workers = planned_workers(decision, backend, settings)
    plan = store.create_round(request, decision.record() | choice.record(), workers,
                              settings.synth_model)
    # Exploration counts are read-modify-write rows: one round start at a time updates them,
    # in its own transaction, so concurrent first rounds neither lose a count nor both
    # insert the same row.
    with router.stats_lock, store.session() as session:
        router.record_shown(session, decision)
    return plan


def planned_workers(decision: Route, backend: ChatBackend,
                    settings: Settings) -> list[PlannedWorker]:
    """What each persona the router selected answers with, tuned to the message's mood."""
    compound = decision.features.sentiment["compound"]
    return [_planned_worker(chosen, decision.decisions, backend, settings, compound)
            for chosen in decision.selected]


def _planned_worker(chosen: RouteDecision, decisions: list[RouteDecision],
                    backend: ChatBackend, settings: Settings, compound: float) -> PlannedWorker:
    persona = chosen.persona
    answering = plan_answer(persona, decisions, Serving.of(backend), settings.worker_model)
    temperature, top_p = tune_for_sentiment(persona.temperature, persona.top_p, compound,
                                            settings)
    options: dict[str, Any] = {"temperature": temperature, "top_p": top_p,
                               "num_ctx": settings.num_ctx, "num_predict": settings.num_predict,
                               **sampling_options(settings.worker_sampling),
                               **sampling_options(persona.sampling or "")}
    if answering.adapters:
        options["adapters"] = answering.adapters
    return PlannedWorker(persona.id, persona.name, persona.color, persona.system_prompt,
                         answering.model, answering.variant, round(chosen.weight, 4), options)


def run_workers(run: RoundRun, plan: RoundPlan) -> list[Generation]:
    """Stream every planned worker at once; each is stored and announced as it finishes."""
    def on_token(worker: PlannedWorker) -> Callable[[str, int], None]:
        return lambda delta, index: run.emit("worker_token", {
            "round_id": run.round_id, "answer_id": worker.answer_id, "delta": delta,
            "index": index})

    def finished(gen: Generation) -> None:
        run.store.save(WorkerAnswer, gen)
        run.emit("worker_done", {"round_id": run.round_id, "answer_id": gen.row_id,
                                 **gen.outcome()})

    workers = [worker_generation(run.backends.workers, run.settings, worker, plan.history,
                                 plan.question, on_token(worker))
               for worker in plan.workers]
    run.live.update((gen.row_id, gen) for gen in workers)
    run.stream(run.backends.workers, workers, run.settings.worker_timeout, finished)
    return workers


def worker_generation(backend: ChatBackend, settings: Settings, worker: PlannedWorker,
                      history: list[PastRound], question: str,
                      on_token: Callable[[str, int], None]) -> Generation:
    """One worker's answer, ready to stream: its persona's messages over the history."""
    return prepared_generation(
        worker.answer_id, worker.model,
        lambda: worker_messages(worker.system_prompt, worker.persona_id, history, question,
                                settings.num_ctx, settings.num_predict,
                                token_counter(backend, worker.model)),
        dict(worker.options), on_token)


def labelled_answers(plan_workers: list[PlannedWorker], usable: list[Generation],
                     ratings: dict[int, float], peer: dict[int, float],
                     blind: bool) -> list[LabelledAnswer]:
    """The answers as the synthesizer sees them: persona, weight, rating, peer rank; a blind
    round's council answer must not name who said what before the vote."""
    labelled = []
    for answer in usable:
        worker = next(w for w in plan_workers if w.answer_id == answer.row_id)
        name = f"Answer {plan_workers.index(worker) + 1}" if blind else worker.name
        labelled.append(LabelledAnswer(name, worker.weight, answer.text,
                                       ratings.get(worker.persona_id), peer.get(answer.row_id)))
    return labelled


def synthesis_generation(backend: ChatBackend, settings: Settings, row_id: int, model: str,
                         history: list[PastRound], question: str,
                         labelled: list[LabelledAnswer],
                         on_token: Callable[[str, int], None]) -> Generation:
    """The synthesizer's merge of the labelled answers, ready to stream; a label it still
    starts with (a persona's name, a weight) is taken off when it finishes."""
    names = [answer.name for answer in labelled]
    return prepared_generation(
        row_id, model,
        lambda: synthesis_messages(history, question, labelled, settings.num_ctx,
                                   settings.num_predict, token_counter(backend, model)),
        synth_options(settings),
        on_token, tidy=lambda text: strip_answer_label(text, names))


def synth_options(settings: Settings) -> dict[str, Any]:
    """What the synthesizer model is asked with (the synthesis, and a compare round's solo
    answer, so that the two differ in what they are given, not how)."""
    return {"num_ctx": settings.num_ctx, "num_predict": settings.num_predict,
            "temperature": SYNTH_TEMPERATURE, **sampling_options(settings.synth_sampling)}


def synthesize(run: RoundRun, plan: RoundPlan, workers: list[Generation],
               peer: dict[int, float]) -> RoundOutcome:
    """Merge the answers that came back, labelled with persona, weight, rating and peer rank."""
    if run.control.cancel.is_set():
        return RoundOutcome("stopped", "Stopped by you before the synthesis.")
    usable = usable_answers(workers)
    if not usable:
        reasons = "; ".join(f"{gen.model}: {gen.error or gen.status}" for gen in workers)
        return RoundOutcome("failed", "Every worker failed, so there is nothing to synthesize. "
                                      f"{reasons}")
    labelled = labelled_answers(plan.workers, usable, run.store.persona_ratings(), peer,
                                plan.request.blind)
    settings = run.settings
    gen = synthesis_generation(
        run.backends.synthesizer, settings,
        run.store.create_synthesis(run.round_id, plan.synth_model), plan.synth_model,
        plan.history, plan.question, labelled,
        lambda delta, index: run.emit("synth_token", {"round_id": run.round_id, "delta": delta,
                                                      "index": index}))
    run.live["synthesis"] = gen
    run.emit("synth_started", {"round_id": run.round_id, "model": gen.model,
                               "answers": [answer.name for answer in labelled]})
    run.stream(run.backends.synthesizer, [gen], settings.synth_timeout,
               lambda done: run.store.save(Synthesis, done))
    run.emit("synth_done", {"round_id": run.round_id, **gen.outcome()})
    if gen.status == "done":
        return RoundOutcome("done")
    if gen.status == "stopped":
        return RoundOutcome("stopped", gen.error)
    return RoundOutcome("failed", f"The synthesizer failed: {gen.error}")
