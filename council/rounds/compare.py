"""A compare round's solo answer: the synthesizer model alone, streaming beside the workers.

    plan = plan_comparison(store, settings, plan)    ticked, or every Nth round: its row, a side
    solo = start_solo(run, plan)                     its own thread, while the workers stream
    finish_solo(solo, outcome)                       after the synthesis: waits (or stops it)
    announce_pair(run, plan)                         `compare_ready`, once the round is stored

The solo answer's tokens are never sent: the page shows the pair (`evaluation.compare`) only
when both answers are complete, so neither the streaming nor the timing tells which is which.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from ..config import Settings
from ..evaluation.compare import draw_council_position
from ..models import Comparison
from ..prompts import SOLO_SYSTEM_PROMPT
from .plan import PlannedComparison, PlannedWorker, RoundOutcome, RoundPlan, RoundRequest
from .stages import RoundRun, synth_options, worker_generation
from .store import RoundStore
from .streams import Generation, RoundControl, run_generations

NO_PAIR = "The council answer did not complete, so there is no pair to judge."


@dataclass(frozen=True)
class SoloRun:
    """The solo answer while it streams: its generation, its branch of the round's control
    (the round's Stop stops it too) and its thread."""

    gen: Generation
    control: RoundControl
    thread: threading.Thread


def is_compare_round(request: RoundRequest, round_id: int, every: int) -> bool:
    """Ticked on the page, or (COUNCIL_COMPARE_EVERY=N) a round whose id is a multiple of N:
    ids count every round the app stored, and a round keeps its id, so the choice is fixed
    when the round starts and shared by every app process."""
    return request.compare or (every > 0 and round_id % every == 0)


def plan_comparison(store: RoundStore, settings: Settings, plan: RoundPlan) -> RoundPlan:
    """A compare round's `Comparison` row, with the council answer's side drawn at random."""
    if not is_compare_round(plan.request, plan.round_id, settings.compare_every):
        return plan
    position = draw_council_position()
    comparison_id = store.create_comparison(plan.round_id, plan.synth_model, position)
    return replace(plan, comparison=PlannedComparison(comparison_id, position))


def start_solo(run: RoundRun, plan: RoundPlan) -> SoloRun | None:
    """Stream the synthesizer model alone on a thread of its own: a worker that is no persona
    (the neutral prompt, the conversation as the user saw it: the questions and the council's
    answers), asked as the synthesis is; its row is saved when it finishes."""
    if plan.comparison is None:
        return None
    settings, backend = run.settings, run.backends.synthesizer
    solo = PlannedWorker(0, "solo", "", SOLO_SYSTEM_PROMPT, plan.synth_model, "prompt", 1.0,
                         synth_options(settings), answer_id=plan.comparison.comparison_id)
    gen = worker_generation(backend, settings, solo, plan.history, plan.question,
                            lambda delta, index: None)  # never sent to the page
    control = run.control.branch()
    thread = threading.Thread(
        target=run_generations, name=f"round-{plan.round_id}-solo", daemon=True,
        args=(backend, control, [gen], settings.synth_timeout, 1,
              lambda done: run.store.save(Comparison, done)))
    thread.start()
    return SoloRun(gen, control, thread)


def finish_solo(solo: SoloRun | None, outcome: RoundOutcome) -> None:
    """Wait until the solo answer is stored; when the council has no answer, stop it first:
    there is nothing to compare it with."""
    if solo is None:
        return
    if outcome.status != "done" and solo.gen.finish("stopped", NO_PAIR):
        solo.control.changed.set()
    solo.thread.join()


def announce_pair(run: RoundRun, plan: RoundPlan) -> None:
    """`compare_ready`: the pair as "A" and "B", or why there is none; sent once the round is
    stored, so the event and a reload show the same thing."""
    if plan.comparison is not None:
        run.emit("compare_ready", {"round_id": plan.round_id,
                                   **(run.store.compare_state(plan.round_id) or {})})
