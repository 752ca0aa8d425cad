"""The council page and the conversations JSON API it uses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template
from sqlalchemy import select

from ..db import session_scope
from ..evaluation.compare import CompareError, record_verdict
from ..extensions import get_council, get_router
from ..models import Conversation, Round, Vote, utcnow
from ..personas import list_personas
from ..votes import VoteError, record_vote
from .errors import status_for
from .inputs import json_body, text_field
from .payloads import conversation_payload, conversation_summary, vote_payload

bp = Blueprint("council", __name__)


@bp.get("/")
@bp.get("/c/<int:conversation_id>")
def index(conversation_id: int | None = None) -> tuple[str, int]:
    """The council page; /c/<id> opens that conversation (a 404 when there is none, with the
    page still drawn so that its list and question box work and the page says so)."""
    with session_scope() as session:
        missing = conversation_id is not None and session.get(Conversation,
                                                               conversation_id) is None
        personas = list_personas(session, enabled_only=True)
        return render_template("council/index.html", personas=personas), 404 if missing else 200


@bp.post("/api/rounds/<int:round_id>/votes")
def vote(round_id: int) -> Any:
    """Record `{"kind": "best"|"down"|"tie", "answer_id": ..., "blind": bool}` (the same vote
    again undoes it); returns the round's votes."""
    payload = json_body()
    if not payload:
        abort(400, 'Send JSON like {"kind": "best", "answer_id": 12}.')
    answer_id, blind = payload.get("answer_id"), payload.get("blind", False)
    if answer_id is not None and (not isinstance(answer_id, int) or isinstance(answer_id, bool)):
        abort(400, "answer_id must be a number.")
    if not isinstance(blind, bool):
        abort(400, "blind must be true or false.")
    with session_scope() as session:
        try:
            record_vote(session, get_router(), round_id, text_field(payload, "kind"), answer_id,
                        blind)
        except VoteError as exc:
            abort(status_for(exc), str(exc))
        votes = session.scalars(select(Vote).where(Vote.round_id == round_id).order_by(Vote.id))
        return jsonify({"round_id": round_id, "votes": [vote_payload(v) for v in votes]})


@bp.post("/api/rounds/<int:round_id>/compare")
def compare_verdict(round_id: int) -> Any:
    """Judge a compare round's pair: `{"verdict": "A"|"B"|"tie"}` (again to change it);
    returns who was who."""
    verdict = json_body().get("verdict")
    with session_scope() as session:
        try:
            return jsonify(record_verdict(session, round_id, verdict))
        except CompareError as exc:
            abort(status_for(exc), str(exc))


def _title_from(payload: dict[str, Any]) -> str:
    title = text_field(payload, "title").strip()
    if not title:
        abort(400, "Give the conversation a title.")
    if len(title) > 200:
        abort(400, "Keep the title to 200 characters or fewer.")
    return title


@bp.post("/api/conversations")
def create_conversation() -> Any:
    payload = json_body()
    with session_scope() as session:
        conversation = Conversation(title=_title_from(payload) if payload.get("title")
                                    else "New conversation")
        session.add(conversation)
        session.flush()
        return jsonify(conversation_summary(conversation)), 201


@bp.get("/api/conversations/<int:conversation_id>")
def get_conversation(conversation_id: int) -> Any:
    with session_scope() as session:
        payload = conversation_payload(session, conversation_id, get_council())
    if payload is None:
        abort(404, "No such conversation.")
    return jsonify(payload)


@bp.patch("/api/conversations/<int:conversation_id>")
def rename_conversation(conversation_id: int) -> Any:
    title = _title_from(json_body())
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


@bp.post("/api/conversations/<int:conversation_id>/current")
def show_branch(conversation_id: int) -> Any:
    """Show another branch: `{"round_id": N}`, the last round of the branch; the next question
    follows it, and a reload opens it."""
    round_id = json_body().get("round_id")
    if not isinstance(round_id, int) or isinstance(round_id, bool):
        abort(400, 'Send JSON like {"round_id": 12}.')
    with session_scope() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            abort(404, "No such conversation.")
        round_ = session.get(Round, round_id)
        if round_ is None or round_.conversation_id != conversation_id:
            abort(404, "That round is not part of this conversation.")
        conversation.current_round_id = round_id
        return jsonify({"id": conversation_id, "current_round_id": round_id})
