"""One council round: route → workers in parallel → synthesis, each step emitting events.

`Council.start_round` stores the round and returns at once; a background thread then runs
`route_message`, streams every selected worker at the same time (a thread each, at most
`max_parallel_workers`), and streams the synthesizer over the answers that came back. A worker
that fails, times out or is stopped is finished on its own; the rest carry on.

Events go through the `emit(event, payload)` callable the caller passes in (the Socket.IO
layer sends them to the asking browser; tests and benchmarks collect them).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select

from .config import Settings
from .db import session_scope
from .llm.base import ChatBackend, ChatMessage, LLMError
from .models import Conversation, PeerReview, Persona, Round, Synthesis, WorkerAnswer, utcnow
from .peer_review import aggregate_rankings, build_review, parse_ranking
from .personas import list_personas
from .prompts import LabelledAnswer, PastRound, load_history, synthesis_messages, worker_messages
from .ratings import fit_bradley_terry
from .router import get_router
from .router.generation import tune_for_sentiment
from .streams import Generation, RoundControl, run_generations, store_generation
from .variants import adapters_shown, plan_answer
from .votes import merit_counts, pairwise_outcomes

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]
MAX_MESSAGE_CHARS = 20_000


class RoundError(ValueError):
    """A round that cannot start; the message says why."""


class Council:
    """Starts, runs and stops rounds for one app; built by `init_app`, one per app."""

    def __init__(self, app: Flask, backend: ChatBackend, settings: Settings) -> None:
        self.app, self.backend, self.settings = app, backend, settings
        self.active: dict[int, RoundControl] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.owners: dict[int, str] = {}  # round -> the client (Socket.IO sid) that asked
        self.in_flight: Counter[str] = Counter()  # rounds starting or running, per client
        self.lock = threading.Lock()

    # --- starting and stopping -------------------------------------------------------------

    def start_round(self, conversation_id: int, text: str, emit: Emit,
                    peer_review: bool | None = None, owner: str = "") -> int:
        """Store the round and its planned answers, then run it in the background.

        `peer_review` overrides the COUNCIL_PEER_REVIEW setting for this round; an `owner`
        (one browser tab) may have at most COUNCIL_MAX_ROUNDS_PER_CLIENT rounds running.
        """
        limit = self.settings.max_rounds_per_client
        with self.lock:
            if owner and self.in_flight[owner] >= limit:
                raise RoundError(f"You already have {limit} rounds running; wait for one to "
                                 "finish or stop it.")
            self.in_flight[owner] += 1
        try:
            return self._start_round(conversation_id, text, emit, peer_review, owner)
        except BaseException:
            self._release(owner)
            raise

    def _release(self, owner: str) -> None:
        with self.lock:
            self.in_flight[owner] -= 1
            if self.in_flight[owner] <= 0:
                del self.in_flight[owner]

    def _start_round(self, conversation_id: int, text: str, emit: Emit,
                     peer_review: bool | None, owner: str) -> int:
        review = self.settings.peer_review if peer_review is None else peer_review
        text = (text or "").strip()
        if not text:
            raise RoundError("Type a question first.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise RoundError(f"That message is {len(text):,} characters; the limit is "
                             f"{MAX_MESSAGE_CHARS:,}. Shorten it or split it in parts.")
        with session_scope(self.app) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                raise RoundError("That conversation no longer exists; start a new one.")
            router = get_router(self.app)
            route = router.route(session, list_personas(session), text, merit_counts(session))
            if not route.selected:
                raise RoundError("No persona is enabled. Enable one on the Personas page.")
            if conversation.title == "New conversation" and not conversation.rounds:
                conversation.title = text.splitlines()[0][:60]
            round_ = Round(conversation_id=conversation_id, user_message=text,
                           routing=route.record())
            session.add(round_)
            conversation.updated_at = utcnow()
            session.flush()
            plan = []
            compound = route.features.sentiment["compound"]
            for decision in route.selected:
                persona = decision.persona
                answering = plan_answer(persona, route.decisions, self.backend.applies_adapters,
                                        self.settings.worker_model)
                options = self._options(persona, compound)
                if answering.adapters:
                    options["adapters"] = answering.adapters
                answer = WorkerAnswer(round_id=round_.id, persona_id=persona.id,
                                      persona_name=persona.name, persona_color=persona.color,
                                      model=answering.model, variant=answering.variant,
                                      weight=round(decision.weight, 4), options=options)
                session.add(answer)
                plan.append((answer, persona))
            session.flush()
            history = load_history(session, conversation_id, round_.id)
            round_id = round_.id
            workers = [self._worker_generation(round_id, answer, persona, history, text, emit)
                       for answer, persona in plan]
            started = {"round_id": round_id, "conversation_id": conversation_id,
                       "user_message": text, "synth_model": self.settings.synth_model,
                       "routing": round_.routing,
                       "workers": [{"answer_id": a.id, "persona_id": p.id, "name": p.name,
                                    "color": p.color, "model": a.model,
                                    "variant": a.variant, "adapters": adapters_shown(a.options),
                                    "weight": a.weight}
                                   for a, p in plan]}
        # Exploration counts are read-modify-write rows: one round start at a time updates
        # them, in its own transaction, so concurrent first rounds neither lose a count nor
        # both insert the same row.
        with router.stats_lock, session_scope(self.app) as session:
            router.record_shown(session, route)
        control = RoundControl(round_id)
        thread = threading.Thread(target=self._run_round, name=f"round-{round_id}",
                                  args=(control, conversation_id, text, history, workers, emit,
                                        review),
                                  daemon=True)
        with self.lock:
            self.active[round_id] = control
            self.threads[round_id] = thread
            self.owners[round_id] = owner
        emit("round_started", started)
        thread.start()
        return round_id

    def stop_round(self, round_id: int) -> bool:
        """Ask a running round to stop; partial answers are kept and marked stopped."""
        with self.lock:
            control = self.active.get(round_id)
        if control is None:
            return False
        control.stop()
        return True

    def wait(self, round_id: int, timeout: float | None = None) -> bool:
        """Block until a round's thread has finished (tests, benchmarks, shutdown)."""
        with self.lock:
            thread = self.threads.get(round_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # --- the round itself ------------------------------------------------------------------

    def _options(self, persona: Persona, compound: float) -> dict[str, Any]:
        temperature, top_p = tune_for_sentiment(persona.temperature, persona.top_p, compound,
                                                self.settings)
        return {"temperature": temperature, "top_p": top_p, "num_ctx": self.settings.num_ctx,
                "num_predict": self.settings.num_predict}

    def _counter(self, model: str) -> Callable[[list[ChatMessage]], int]:
        return lambda messages: self.backend.count_tokens(model, messages)

    def _worker_generation(self, round_id: int, answer: WorkerAnswer, persona: Persona,
                           history: list[PastRound], question: str, emit: Emit) -> Generation:
        messages, failure = build_messages(lambda: worker_messages(
            persona.system_prompt, persona.id, history, question, self.settings.num_ctx,
            self.settings.num_predict, self._counter(answer.model)))
        gen = Generation(
            row_id=answer.id, model=answer.model, messages=messages, options=dict(answer.options),
            on_token=lambda delta: emit("worker_token", {"round_id": round_id,
                                                         "answer_id": answer.id, "delta": delta}))
        if failure:
            gen.finish("failed", failure)
        return gen

    def _run_round(self, control: RoundControl, conversation_id: int, question: str,
                   history: list[PastRound], workers: list[Generation], emit: Emit,
                   review: bool) -> None:
        round_id = control.round_id
        try:
            self._run(control, workers, self.settings.worker_timeout,
                      lambda gen: self._finish_worker(round_id, gen, emit))
            peer = self._peer_review(control, question, workers, emit) if review else {}
            status, error = self._synthesize(control, question, history, workers, emit, peer)
        except Exception as exc:  # keep the app serving and the round explained
            log.exception("round %s crashed", round_id)
            status, error = "failed", f"Internal error: {type(exc).__name__}: {exc}"
        with session_scope(self.app) as session:
            round_ = session.get(Round, round_id)
            if round_ is not None:
                round_.status, round_.error, round_.finished_at = status, error, utcnow()
        with self.lock:
            self.active.pop(round_id, None)
        self._release(self.owners.pop(round_id, ""))
        if status == "failed":
            emit("round_error", {"round_id": round_id, "error": error})
        emit("round_done", {"round_id": round_id, "conversation_id": conversation_id,
                            "status": status, "error": error})
        with self.lock:
            self.threads.pop(round_id, None)

    def _run(self, control: RoundControl, gens: list[Generation], timeout: float,
             on_finish: Callable[[Generation], None]) -> None:
        run_generations(self.backend, control, gens, timeout,
                        self.settings.max_parallel_workers, on_finish)

    def _finish_worker(self, round_id: int, gen: Generation, emit: Emit) -> None:
        store_generation(self.app, WorkerAnswer, gen)
        emit("worker_done", {"round_id": round_id, "answer_id": gen.row_id, **gen.outcome()})

    def _peer_review(self, control: RoundControl, question: str, workers: list[Generation],
                     emit: Emit) -> dict[int, float]:
        """Each finished worker ranks the others; returns mean position per answer id."""
        round_id = control.round_id
        usable = [gen for gen in workers if gen.status == "done" and gen.text.strip()]
        if control.cancel.is_set() or len(usable) < 2:
            return {}
        answers = {gen.row_id: gen.text for gen in usable}
        requests = {gen.row_id: build_review(gen.row_id, gen.messages[0]["content"], question,
                                             answers, seed=f"{round_id}:{gen.row_id}")
                    for gen in usable}
        with session_scope(self.app) as session:
            rows = [PeerReview(round_id=round_id, reviewer_answer_id=gen.row_id, model=gen.model,
                               labels=requests[gen.row_id].labels) for gen in usable]
            session.add_all(rows)
            session.flush()
            reviews = [Generation(row_id=row.id, model=gen.model, options=gen.options,
                                  messages=requests[gen.row_id].messages, on_token=lambda _: None)
                       for row, gen in zip(rows, usable)]
            reviewer_of = {row.id: row.reviewer_answer_id for row in rows}
        emit("review_started", {"round_id": round_id, "reviews": [
            {"review_id": r.row_id, "reviewer_answer_id": reviewer_of[r.row_id],
             "labels": requests[reviewer_of[r.row_id]].labels} for r in reviews]})
        rankings: list[list[int]] = []

        def finish_review(gen: Generation) -> None:
            labels = requests[reviewer_of[gen.row_id]].labels
            ranking = parse_ranking(gen.text, labels) if gen.status == "done" else None
            if gen.status == "done" and ranking is None:
                gen.status = "unparseable"
                gen.error = ("No FINAL RANKING line naming every response once; the review is "
                             "kept but not counted.")
            store_generation(self.app, PeerReview, gen, ranking=ranking)
            if ranking:
                rankings.append(ranking)
            emit("review_done", {"round_id": round_id, "review_id": gen.row_id,
                                 "reviewer_answer_id": reviewer_of[gen.row_id], "labels": labels,
                                 "ranking": ranking, **gen.outcome()})

        self._run(control, reviews, self.settings.worker_timeout, finish_review)
        summary = aggregate_rankings(rankings)
        ranking = [{"answer_id": answer_id, "mean_position": round(mean, 2), "reviews": count}
                   for answer_id, mean, count in summary]
        with session_scope(self.app) as session:
            session.get(Round, round_id).peer_ranking = ranking
        emit("peer_ranking", {"round_id": round_id, "ranking": ranking})
        return {answer_id: mean for answer_id, mean, _ in summary}

    def _synthesize(self, control: RoundControl, question: str, history: list[PastRound],
                    workers: list[Generation], emit: Emit,
                    peer: dict[int, float]) -> tuple[str, str | None]:
        round_id = control.round_id
        if control.cancel.is_set():
            return "stopped", "Stopped by you before the synthesis."
        usable = [gen for gen in workers if gen.status == "done" and gen.text.strip()]
        if not usable:
            reasons = "; ".join(f"{gen.model}: {gen.error or gen.status}" for gen in workers)
            return "failed", f"Every worker failed, so there is nothing to synthesize. {reasons}"
        with session_scope(self.app) as session:
            answers = {a.id: a for a in session.scalars(
                select(WorkerAnswer).where(WorkerAnswer.round_id == round_id))}
            outcomes = pairwise_outcomes(session)
            voted = {o.winner for o in outcomes} | {o.loser for o in outcomes}
            ratings = fit_bradley_terry(outcomes, sorted(voted)) if outcomes else {}
            labelled = [LabelledAnswer(answers[g.row_id].persona_name, answers[g.row_id].weight,
                                       g.text, ratings.get(answers[g.row_id].persona_id),
                                       peer.get(g.row_id))
                        for g in usable]
            synthesis = Synthesis(round_id=round_id, model=self.settings.synth_model)
            session.add(synthesis)
            session.flush()
            synthesis_id = synthesis.id
        messages, failure = build_messages(lambda: synthesis_messages(
            history, question, labelled, self.settings.num_ctx, self.settings.num_predict,
            self._counter(self.settings.synth_model)))
        gen = Generation(row_id=synthesis_id, model=self.settings.synth_model, messages=messages,
                         options={"num_ctx": self.settings.num_ctx,
                                  "num_predict": self.settings.num_predict, "temperature": 0.4},
                         on_token=lambda delta: emit("synth_token",
                                                     {"round_id": round_id, "delta": delta}))
        if failure:
            gen.finish("failed", failure)
        emit("synth_started", {"round_id": round_id, "model": gen.model,
                               "answers": [a.name for a in labelled]})
        self._run(control, [gen], self.settings.synth_timeout,
                  lambda g: store_generation(self.app, Synthesis, g))
        emit("synth_done", {"round_id": round_id, **gen.outcome()})
        if gen.status == "done":
            return "done", None
        if gen.status == "stopped":
            return "stopped", gen.error
        return "failed", f"The synthesizer failed: {gen.error}"


def build_messages(build: Callable[[], list[ChatMessage]]) -> tuple[list[ChatMessage], str | None]:
    """The messages, or none and why not: a prompt that cannot be built (its model is missing,
    or the question alone overflows the context window) fails that one generation, which then
    finishes through the same path as any other, not the whole round."""
    try:
        return build(), None
    except LLMError as exc:
        return [], str(exc)


def init_app(app: Flask, backend: ChatBackend) -> None:
    app.extensions["council"] = Council(app, backend, app.config["SETTINGS"])


def get_council(app: Flask) -> Council:
    return app.extensions["council"]
