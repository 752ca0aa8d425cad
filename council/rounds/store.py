"""The rows a round writes, each committed as it happens, so a restart loses nothing shown.

The stages (`stages.py`, `review.py`) decide; this module is the only place that turns their
decisions into `Round`, `WorkerAnswer`, `PeerReview`, `Synthesis` and `Comparison` rows, one
short transaction each.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import session_scope
from ..evaluation.compare import compare_state
from ..extensions import app_process_id
from ..leaderboard import point_ratings
from ..llm.base import STAT_FIELDS, ChatStats
from ..models import (
    NEW_CONVERSATION_TITLE,
    Comparison,
    Conversation,
    PeerReview,
    Round,
    Synthesis,
    WorkerAnswer,
    utcnow,
)
from ..prompts import load_history
from .plan import LATEST, PlannedWorker, RoundError, RoundOutcome, RoundPlan, RoundRequest
from .streams import Generation


class RoundStore:
    """Reads and writes one app's round rows; shared by every round thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def session(self) -> AbstractContextManager[Session]:
        return session_scope(self.app)

    def create_round(self, request: RoundRequest, routing: dict[str, Any],
                     workers: list[PlannedWorker], synth_model: str) -> RoundPlan:
        """The round and one running answer per worker, in a new conversation or on the branch
        the request names (which becomes the one the conversation shows); a new conversation
        takes its title from its first question. Nothing is stored for a refused request."""
        with self.session() as session:
            if request.conversation_id is None:
                conversation = Conversation()
                session.add(conversation)
                session.flush()
            else:
                conversation = session.get(Conversation, request.conversation_id)
            if conversation is None:
                raise RoundError("That conversation no longer exists; start a new one.")
            parent_id = _parent(conversation, request.parent_id)
            if conversation.title == NEW_CONVERSATION_TITLE and not conversation.rounds:
                conversation.title = request.question.splitlines()[0][:60]
            round_ = Round(conversation_id=conversation.id, user_message=request.question,
                           routing=routing, parent_id=parent_id,
                           app_process_id=app_process_id(self.app))
            session.add(round_)
            conversation.updated_at = utcnow()
            session.flush()
            conversation.current_round_id = round_.id
            rows = [WorkerAnswer(round_id=round_.id, persona_id=w.persona_id,
                                 persona_name=w.name, persona_color=w.color, model=w.model,
                                 variant=w.variant, weight=w.weight, options=w.options)
                    for w in workers]
            session.add_all(rows)
            session.flush()
            return RoundPlan(round_id=round_.id, conversation_id=conversation.id,
                             parent_id=parent_id, request=request, routing=routing,
                             history=load_history(session, conversation.id, parent_id),
                             workers=[replace(w, answer_id=row.id)
                                      for w, row in zip(workers, rows, strict=True)],
                             synth_model=synth_model)

    def save(self, model: type[WorkerAnswer | PeerReview | Synthesis | Comparison],
             gen: Generation, **extra: Any) -> None:
        """A finished generation's text, outcome and the backend's stats on its row."""
        stats = gen.stats or ChatStats()
        with self.session() as session:
            row = session.get(model, gen.row_id)
            if row is None:  # its conversation was deleted meanwhile
                return
            row.status, row.error, row.text = gen.status, gen.error, gen.text
            row.finished_at = utcnow()
            if gen.first_token_at is not None:
                row.first_token_at = datetime.fromtimestamp(gen.first_token_at, tz=timezone.utc)
            for name in STAT_FIELDS:
                setattr(row, name, getattr(stats, name))
            for name, value in extra.items():
                setattr(row, name, value)

    def create_reviews(self, round_id: int,
                       reviewers: list[tuple[int, str, dict[str, int]]]) -> list[int]:
        """One running review per (reviewer answer id, model, labels); their row ids."""
        with self.session() as session:
            rows = [PeerReview(round_id=round_id, reviewer_answer_id=answer_id, model=model,
                               labels=labels) for answer_id, model, labels in reviewers]
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def save_peer_ranking(self, round_id: int, ranking: list[dict[str, Any]]) -> None:
        with self.session() as session:
            round_ = session.get(Round, round_id)
            if round_ is not None:
                round_.peer_ranking = ranking

    def create_synthesis(self, round_id: int, model: str) -> int:
        with self.session() as session:
            synthesis = Synthesis(round_id=round_id, model=model)
            session.add(synthesis)
            session.flush()
            return synthesis.id

    def create_comparison(self, round_id: int, model: str, council_position: str) -> int:
        with self.session() as session:
            comparison = Comparison(round_id=round_id, model=model,
                                    council_position=council_position)
            session.add(comparison)
            session.flush()
            return comparison.id

    def compare_state(self, round_id: int) -> dict[str, Any] | None:
        """The round's comparison as the page shows it (`evaluation.compare.compare_state`)."""
        with self.session() as session:
            round_ = session.get(Round, round_id)
            return None if round_ is None else compare_state(round_)

    def persona_ratings(self) -> dict[int, float]:
        """Ratings of the personas the user has compared, for the synthesizer to weigh."""
        with self.session() as session:
            return point_ratings(session)

    def request_stop(self, round_id: int) -> bool:
        """Flag a round another app process runs; False when no process runs it."""
        with self.session() as session:
            flagged = session.execute(update(Round).where(
                Round.id == round_id, Round.status == "running",
                Round.app_process_id != app_process_id(self.app)).values(stop_requested=True))
            return bool(flagged.rowcount)

    def stops_requested(self, round_ids: list[int]) -> list[int]:
        """Which of these rounds a tab on another app process asked to stop."""
        with self.session() as session:
            return list(session.scalars(select(Round.id).where(Round.id.in_(round_ids),
                                                               Round.stop_requested)))

    def finish_round(self, round_id: int, outcome: RoundOutcome) -> None:
        with self.session() as session:
            round_ = session.get(Round, round_id)
            if round_ is not None:
                round_.status, round_.error = outcome.status, outcome.error
                round_.finished_at = utcnow()


def _parent(conversation: Conversation, wanted: int | None | str) -> int | None:
    """The round a new one follows: the shown branch's last round (the newest round for a
    conversation from before branches), or the round the request names."""
    if wanted == LATEST:
        if conversation.current_round_id is not None:
            return conversation.current_round_id
        return max((r.id for r in conversation.rounds), default=None)
    if wanted is not None and wanted not in {r.id for r in conversation.rounds}:
        raise RoundError("That round is not part of this conversation; reload the page.")
    return wanted  # type: ignore[return-value]
