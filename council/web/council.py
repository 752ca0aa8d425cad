"""The council page and the conversations JSON API it uses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..db import session_scope
from ..extensions import get_council, get_router
from ..llm.base import ChatStats
from ..models import Conversation, Round, Vote, utcnow
from ..variants import adapters_shown
from ..votes import VoteError, record_vote
from .errors import status_for

bp = Blueprint("council", __name__)


@bp.get("/")
@bp.get("/c/<int:conversation_id>")
def index(conversation_id: int | None = None) -> tuple[str, int]:
    """The council page; /c/<id> opens that conversation (a 404 when there is none, with the
    page still drawn so that its list and question box work and the page says so)."""
    status = 200
    if conversation_id is not None:
        with session_scope() as session:
            status = 200 if session.get(Conversation, conversation_id) is not None else 404
    return render_template("council/index.html"), status


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    return {"id": conversation.id, "title": conversation.title,
            "updated_at": conversation.updated_at.isoformat()}


def round_payload(round_: Round) -> dict[str, Any]:
    """A stored round in the same shape the live events build up in the browser."""
    synthesis = round_.synthesis
    return {
        "round_id": round_.id, "user_message": round_.user_message, "status": round_.status,
        "error": round_.error,
        "workers": [{"answer_id": a.id, "persona_id": a.persona_id, "name": a.persona_name,
                     "color": a.persona_color, "model": a.model, "variant": a.variant,
                     "adapters": adapters_shown(a.options), "weight": a.weight,
                     "status": a.status, "error": a.error, "text": a.text,
                     "stats": ChatStats.of(a).summary()} for a in round_.answers],
        "routing": round_.routing,
        "peer_ranking": round_.peer_ranking,
        "reviews": [{"review_id": r.id, "reviewer_answer_id": r.reviewer_answer_id,
                     "labels": r.labels, "ranking": r.ranking, "status": r.status,
                     "error": r.error} for r in round_.reviews],
        "votes": [vote_payload(v) for v in round_.votes],
        "synthesis": None if synthesis is None else {
            "model": synthesis.model, "status": synthesis.status, "error": synthesis.error,
            "text": synthesis.text, "stats": ChatStats.of(synthesis).summary()},
    }


def vote_payload(vote: Vote) -> dict[str, Any]:
    return {"vote_id": vote.id, "kind": vote.kind, "answer_id": vote.answer_id,
            "persona_id": vote.persona_id}


@bp.post("/api/rounds/<int:round_id>/votes")
def vote(round_id: int) -> Any:
    """Record `{"kind": "best"|"down"|"tie", "answer_id": ...}`; returns the round's votes."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        abort(400, 'Send JSON like {"kind": "best", "answer_id": 12}.')
    answer_id = payload.get("answer_id")
    if answer_id is not None and not isinstance(answer_id, int):
        abort(400, "answer_id must be a number.")
    with session_scope() as session:
        try:
            record_vote(session, get_router(), round_id, str(payload.get("kind")), answer_id)
        except VoteError as exc:
            abort(status_for(exc), str(exc))
        votes = session.scalars(select(Vote).where(Vote.round_id == round_id).order_by(Vote.id))
        return jsonify({"round_id": round_id, "votes": [vote_payload(v) for v in votes]})


def _title_from(payload: Any) -> str:
    title = str((payload or {}).get("title") or "").strip() if isinstance(payload, dict) else ""
    if not title:
        abort(400, "Give the conversation a title.")
    if len(title) > 200:
        abort(400, "Keep the title to 200 characters or fewer.")
    return title


@bp.post("/api/conversations")
def create_conversation() -> Any:
    payload = request.get_json(silent=True) or {}
    with session_scope() as session:
        conversation = Conversation(title=_title_from(payload) if payload.get("title")
                                    else "New conversation")
        session.add(conversation)
        session.flush()
        return jsonify(conversation_summary(conversation)), 201


@bp.get("/api/conversations/<int:conversation_id>")
def get_conversation(conversation_id: int) -> Any:
    with session_scope() as session:
        conversation = session.scalar(
            select(Conversation).where(Conversation.id == conversation_id).options(
                selectinload(Conversation.rounds).selectinload(Round.answers),
                selectinload(Conversation.rounds).selectinload(Round.synthesis),
                selectinload(Conversation.rounds).selectinload(Round.votes),
                selectinload(Conversation.rounds).selectinload(Round.reviews)))
        if conversation is None:
            abort(404, "No such conversation.")
        return jsonify({**conversation_summary(conversation),
                        "rounds": [round_payload(r) for r in conversation.rounds]})


@bp.patch("/api/conversations/<int:conversation_id>")
def rename_conversation(conversation_id: int) -> Any:
    title = _title_from(request.get_json(silent=True))
    with session_scope() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            abort(404, "No such conversation.")
        conversation.title, conversation.updated_at = title, utcnow()
        return jsonify(conversation_summary(conversation))


@bp.delete("/api/conversations/<int:conversation_id>")
def delete_conversation(conversation_id: int) -> Any:
    council = get_council()
    with session_scope() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            abort(404, "No such conversation.")
        for round_ in conversation.rounds:
            council.stop_round(round_.id)
        session.delete(conversation)
    return "", 204
