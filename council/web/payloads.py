"""A conversation and its rounds as the council page draws them.

One shape for a stored round and for the live events that build one up in the browser; a
round that is still running also carries what its generations have streamed so far (text and
token count), so a page opened mid-round (a reload, a second tab) shows it and keeps streaming.
A compare round carries its pair as `compare_ready` does (`evaluation.compare.compare_state`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..evaluation.compare import compare_state
from ..llm.base import ChatStats
from ..models import Conversation, Round, Vote
from ..rounds import Council
from ..variants import adapters_shown


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    return {"id": conversation.id, "title": conversation.title,
            "updated_at": conversation.updated_at.isoformat()}


def vote_payload(vote: Vote) -> dict[str, Any]:
    return {"vote_id": vote.id, "kind": vote.kind, "answer_id": vote.answer_id,
            "persona_id": vote.persona_id, "blind": vote.blind}


def round_payload(round_: Round, live: dict[int | str, dict[str, Any]]) -> dict[str, Any]:
    """A stored round; `live` (Council.live_state) overlays what is still streaming."""
    def streamed(key: int | str, text: str) -> dict[str, Any]:
        now = live.get(key)
        return {"text": now["text"], "tokens": now["tokens"]} if now else {"text": text}

    synthesis = round_.synthesis
    return {
        "round_id": round_.id, "parent_id": round_.parent_id,
        "user_message": round_.user_message, "status": round_.status, "error": round_.error,
        "workers": [{"answer_id": a.id, "persona_id": a.persona_id, "name": a.persona_name,
                     "color": a.persona_color, "model": a.model, "variant": a.variant,
                     "adapters": adapters_shown(a.options), "weight": a.weight,
                     "status": a.status, "error": a.error, **streamed(a.id, a.text),
                     "stats": ChatStats.of(a).summary()} for a in round_.answers],
        "routing": round_.routing,
        "peer_ranking": round_.peer_ranking,
        "reviews": [{"review_id": r.id, "reviewer_answer_id": r.reviewer_answer_id,
                     "labels": r.labels, "ranking": r.ranking, "status": r.status,
                     "error": r.error} for r in round_.reviews],
        "votes": [vote_payload(v) for v in round_.votes],
        "synthesis": None if synthesis is None else {
            "model": synthesis.model, "status": synthesis.status, "error": synthesis.error,
            **streamed("synthesis", synthesis.text),
            "stats": ChatStats.of(synthesis).summary()},
        "compare": compare_state(round_),
    }


def conversation_payload(session: Session, conversation_id: int,
                         council: Council) -> dict[str, Any] | None:
    """Every round of the conversation (None when there is no such conversation)."""
    conversation = session.scalar(
        select(Conversation).where(Conversation.id == conversation_id).options(
            selectinload(Conversation.rounds).selectinload(Round.answers),
            selectinload(Conversation.rounds).selectinload(Round.synthesis),
            selectinload(Conversation.rounds).selectinload(Round.votes),
            selectinload(Conversation.rounds).selectinload(Round.reviews),
            selectinload(Conversation.rounds).selectinload(Round.comparison)))
    if conversation is None:
        return None
    return {**conversation_summary(conversation),
            "current_round_id": conversation.current_round_id,
            "rounds": [round_payload(r, council.live_state(r.id) if r.status == "running"
                                     else {}) for r in conversation.rounds]}
