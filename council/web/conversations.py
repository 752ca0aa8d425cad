"""The conversation list the council page shows, its search, and a conversation's export.

A search matches a conversation's title or any of its questions; for a match found only in a
question, the summary carries that question's line (`match`), so the list can say why the
conversation is there. An export is a download of what the page shows: the JSON payload the
page draws from, or that as a Markdown transcript (council/transcript.py).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from .. import transcript
from ..db import session_scope
from ..extensions import get_council
from ..models import Conversation, Round
from ..slugs import slugify
from .inputs import MAX_INT
from .payloads import conversation_payload, conversation_summary

bp = Blueprint("conversations", __name__)

MATCH_CHARS = 80
PAGE = 100  # conversations per request unless `limit` says otherwise
MAX_PAGE = 500


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching_question(round_text: str, text: str) -> str:
    """The first line of the question that contains `text`, cut to MATCH_CHARS around it."""
    line = next((ln for ln in round_text.splitlines() if text.lower() in ln.lower()), round_text)
    start = max(0, line.lower().find(text.lower()) - MATCH_CHARS // 3)
    shown = line[start:start + MATCH_CHARS]
    return ("…" if start else "") + shown + ("…" if start + MATCH_CHARS < len(line) else "")


def find_conversations(session: Session, text: str, limit: int = PAGE,
                       offset: int = 0) -> list[dict[str, Any]]:
    """Conversation summaries, newest first, `limit` of them from `offset`; with `text`, only
    those whose title or a question contains it (case-insensitive)."""
    query: Select[tuple[Conversation]] = select(Conversation).order_by(
        Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit).offset(offset)
    if not text:
        return [conversation_summary(c) for c in session.scalars(query)]
    pattern = _like(text)
    asked = (select(Round.conversation_id, Round.user_message)
             .where(Round.user_message.ilike(pattern, escape="\\")).order_by(Round.id))
    questions: dict[int, str] = {}
    for conversation_id, question in session.execute(asked):
        questions.setdefault(conversation_id, question)
    found = session.scalars(query.where(or_(Conversation.title.ilike(pattern, escape="\\"),
                                            Conversation.id.in_(questions))))
    summaries = []
    for conversation in found:
        summary = conversation_summary(conversation)
        question = questions.get(conversation.id)
        if question is not None and text.lower() not in conversation.title.lower():
            summary["match"] = _matching_question(question, text)
        summaries.append(summary)
    return summaries


def _count_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(high))
            and low <= int(raw) <= high):
        abort(400, f"{name} must be a whole number from {low} to {high:,}.")
    return int(raw)


@bp.get("/api/conversations")
def list_conversations() -> Any:
    """Newest first: `[{id, title, updated_at}]`, a page at a time (`?limit=&offset=`);
    `?q=` searches titles and questions."""
    limit = _count_arg("limit", PAGE, 1, MAX_PAGE)
    offset = _count_arg("offset", 0, 0, MAX_INT)
    with session_scope() as session:
        return jsonify(find_conversations(session, request.args.get("q", "").strip()[:200],
                                          limit, offset))


def _exported(conversation_id: int) -> dict[str, Any]:
    with session_scope() as session:
        payload = conversation_payload(session, conversation_id, get_council())
    if payload is None:
        abort(404, "No such conversation.")
    return payload


def _download(body: str, mimetype: str, conversation: dict[str, Any], extension: str) -> Response:
    name = "-".join(filter(None, ["conversation", str(conversation["id"]),
                                  slugify(conversation["title"])[:40]]))
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}.{extension}"'})


@bp.get("/api/conversations/<int:conversation_id>/export.json")
def export_json(conversation_id: int) -> Response:
    """The conversation as the page draws it (every round, answer, synthesis and vote)."""
    conversation = _exported(conversation_id)
    return _download(json.dumps(conversation, ensure_ascii=False, indent=2) + "\n",
                     "application/json", conversation, "json")


@bp.get("/api/conversations/<int:conversation_id>/export.md")
def export_markdown(conversation_id: int) -> Response:
    """The conversation as a Markdown transcript."""
    conversation = _exported(conversation_id)
    return _download(transcript.markdown(conversation), "text/markdown; charset=utf-8",
                     conversation, "md")
