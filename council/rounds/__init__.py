"""Council rounds: `Council` starts each round's stages on a thread of its own and stops them.

A round is `route → run_workers → review → synthesize` (`stages.py`, `review.py`), with a
compare round's solo answer streaming beside it (`compare.py`); the rows it writes go through
`RoundStore` (`store.py`), and the streaming under every stage is `streams.py`. This module
only holds what spans rounds: their threads, the per-client limit,
and the stop button (pressed in a tab on another app process, it reaches the round through
the database within `STOP_POLL_S`). A worker that fails, times out or is stopped is finished on its own;
the rest carry on.

Events go through the `emit(event, payload)` callable the caller passes in (the Socket.IO
layer sends them to the asking browser; tests and benchmarks collect them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from flask import Flask

from ..config import Settings
from ..extensions import get_router, get_settings
from ..llm.roles import Backends
from .compare import announce_pair, finish_solo, plan_comparison, start_solo
from .plan import LATEST, Emit, RoundError, RoundOutcome, RoundPlan, RoundRequest
from .review import review
from .stages import RoundRun, route, run_workers, synthesize
from .store import RoundStore
from .streams import RoundControl

__all__ = ["Council", "RoundError", "init_app"]
log = logging.getLogger(__name__)
STOP_POLL_S = 0.5  # how often running rounds look for a stop asked through another process


class Council:
    """Starts, runs and stops rounds for one app; built by `init_app`, one per app."""

    def __init__(self, app: Flask, backends: Backends, settings: Settings) -> None:
        self.app, self.backends, self.settings = app, backends, settings
        self.store = RoundStore(app)
        self.active: dict[int, RoundRun] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.owners: dict[int, str] = {}  # round -> the client (Socket.IO sid) that asked
        self.in_flight: Counter[str] = Counter()  # rounds starting or running, per client
        self.lock = threading.Lock()
        self._stop_watch: threading.Thread | None = None

    def start_round(self, conversation_id: int | None, text: str, emit: Emit,
                    peer_review: bool | None = None, owner: str = "",
                    personas: object = (), parent_id: object = LATEST,
                    blind: object = False, compare: object = None) -> RoundPlan:
        """Store the round and its planned answers, then run it in the background.

        `conversation_id` None starts a new conversation (stored only if the round starts);
        `parent_id` says which round it follows (default: the branch the conversation shows;
        a regenerate or an edit names the round before the one it replaces). `peer_review`
        overrides the COUNCIL_PEER_REVIEW setting for this round; `personas` (ids or
        "everyone") overrides the router's choice of who speaks; `blind` keeps the personas'
        names out of the council answer; `compare` (default COUNCIL_COMPARE) also asks the
        synthesizer model alone, to be judged against the council answer; an `owner` (one
        browser tab) may have at most COUNCIL_MAX_ROUNDS_PER_CLIENT rounds running, and all
        owners together COUNCIL_MAX_ROUNDS.
        """
        limit, total = self.settings.max_rounds_per_client, self.settings.max_rounds
        with self.lock:
            if owner and self.in_flight[owner] >= limit:
                raise RoundError(f"You already have {limit} rounds running; wait for one to "
                                 "finish or stop it.")
            if self.in_flight.total() >= total:
                raise RoundError(f"The council is answering {total} rounds at once, its limit "
                                 "(COUNCIL_MAX_ROUNDS); wait for one to finish.")
            self.in_flight[owner] += 1
        try:
            request = RoundRequest.validated(
                conversation_id, text,
                self.settings.peer_review if peer_review is None else peer_review, personas,
                parent_id, blind, self.settings.compare if compare is None else compare)
            plan = plan_comparison(self.store, self.settings, route(
                get_router(self.app), self.store, self.backends.workers, self.settings, request))
        except BaseException:
            self._release(owner)
            raise
        control = RoundControl(plan.round_id)
        run = RoundRun(self.backends, self.settings, self.store, control, emit)
        thread = threading.Thread(target=self._run_round, args=(run, plan),
                                  name=f"round-{plan.round_id}", daemon=True)
        with self.lock:
            self.active[plan.round_id] = run
            self.threads[plan.round_id] = thread
            self.owners[plan.round_id] = owner
            if self._stop_watch is None:
                self._stop_watch = threading.Thread(target=self._watch_stops, daemon=True,
                                                    name="council-stop-watch")
                self._stop_watch.start()
        emit("round_started", plan.started_payload())
        thread.start()
        return plan

    def stop_round(self, round_id: int) -> bool:
        """Ask a running round to stop; partial answers are kept and marked stopped."""
        with self.lock:
            run = self.active.get(round_id)
        if run is None:
            return False
        run.control.stop()
        return True

    def request_stop(self, round_id: int) -> bool:
        """Stop a round this process runs, or ask the one that runs it; False when none
        does."""
        return self.stop_round(round_id) or self.store.request_stop(round_id)

    def _watch_stops(self) -> None:
        """While rounds run here, stop the ones a tab on another process asked to stop."""
        while True:
            with self.lock:
                running = list(self.active)
                if not running:
                    self._stop_watch = None
                    return
            try:
                for round_id in self.store.stops_requested(running):
                    self.stop_round(round_id)
            except Exception:  # noqa: BLE001  (a database hiccup: look again next time)
                log.exception("could not read the rounds' stop requests")
            time.sleep(STOP_POLL_S)

    def owner(self, round_id: int) -> str | None:
        """The client that asked a running round ("" for one started without a client);
        None once it has ended."""
        with self.lock:
            return self.owners.get(round_id) if round_id in self.active else None

    def live_state(self, round_id: int) -> dict[int | str, dict[str, Any]]:
        """What a running round's generations have streamed so far (by answer id, and
        "synthesis"); empty once it has ended, when the stored rows say everything."""
        with self.lock:
            run = self.active.get(round_id)
        if run is None:
            return {}
        return {key: gen.snapshot() for key, gen in list(run.live.items())}

    def wait(self, round_id: int, timeout: float | None = None) -> bool:
        """Block until a round's thread has finished (tests, benchmarks, shutdown)."""
        with self.lock:
            thread = self.threads.get(round_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _release(self, owner: str) -> None:
        with self.lock:
            self.in_flight[owner] -= 1
            if self.in_flight[owner] <= 0:
                del self.in_flight[owner]

    def _run_round(self, run: RoundRun, plan: RoundPlan) -> None:
        solo = None
        try:
            solo = start_solo(run, plan)
            workers = run_workers(run, plan)
            peer = review(run, plan, workers) if plan.request.peer_review else {}
            outcome = synthesize(run, plan, workers, peer)
        except Exception as exc:  # keep the app serving and the round explained
            log.exception("round %s crashed", plan.round_id)
            outcome = RoundOutcome("failed", f"Internal error: {type(exc).__name__}: {exc}")
        finish_solo(solo, outcome)
        self.store.finish_round(plan.round_id, outcome)
        with self.lock:
            self.active.pop(plan.round_id, None)
        self._release(self.owners.pop(plan.round_id, ""))
        if outcome.status == "failed":
            run.emit("round_error", {"round_id": plan.round_id, "error": outcome.error})
        announce_pair(run, plan)
        run.emit("round_done", {"round_id": plan.round_id,
                                "conversation_id": plan.conversation_id,
                                "status": outcome.status, "error": outcome.error})
        with self.lock:
            self.threads.pop(plan.round_id, None)


def init_app(app: Flask, backends: Backends) -> None:
    app.extensions["council"] = Council(app, backends, get_settings(app))
