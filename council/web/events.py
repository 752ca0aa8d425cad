"""Socket.IO events: the browser opens a conversation, asks and stops.

A round's events go to everyone watching its conversation (a Socket.IO room per
conversation) as well as to the tab that asked: a reload or a second tab opens the conversation
with `open_conversation`, gets what running rounds have streamed so far, and streams the rest.
Handlers attach at import, before the shared SocketIO object is first bound, so every app that
`init_app` binds later gets them too.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request
from flask_socketio import join_room, leave_room, rooms

from ..db import session_scope
from ..extensions import get_council, socketio
from ..models import Round
from ..rounds import RoundError
from ..rounds.plan import LATEST
from .inputs import InputRefused, check_json_value
from .payloads import conversation_payload

log = logging.getLogger(__name__)
ROOM_PREFIX = "conversation-"


def _refusal(data: Any, shape: str) -> str | None:
    """Why an event's payload cannot be taken (None when it can): every event takes an object
    whose values a database can store."""
    if not isinstance(data, dict):
        return f"Send {shape}."
    try:
        check_json_value(data)
    except InputRefused as exc:
        return f"That was refused: {exc}."
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def conversation_room(conversation_id: int) -> str:
    return f"{ROOM_PREFIX}{conversation_id}"


def watch(conversation_id: int | None) -> None:
    """This tab follows one conversation at a time: the one it shows."""
    for room in rooms():
        if room.startswith(ROOM_PREFIX) and room != conversation_room(conversation_id or 0):
            leave_room(room)
    if conversation_id is not None:
        join_room(conversation_room(conversation_id))


@socketio.on("open_conversation")
def open_conversation(data: Any = None) -> dict[str, Any]:
    """Follow a conversation (or none); the acknowledgement carries its rounds as they are now.

    The tab joins the room first and reads the rounds after, so every token either is in the
    snapshot or arrives as an event; events carry their index, so the page drops repeats.
    """
    problem = _refusal(data, '{"conversation_id": ...}')
    if problem:
        return {"ok": False, "error": problem}
    conversation_id = data.get("conversation_id")
    if conversation_id is not None and not _is_id(conversation_id):
        return {"ok": False, "error": "conversation_id must be a number or null."}
    watch(conversation_id)
    if conversation_id is None:
        return {"ok": True, "conversation": None}
    with session_scope() as session:
        payload = conversation_payload(session, conversation_id, get_council())
    if payload is None:
        watch(None)
        return {"ok": False, "error": "No such conversation: it may have been deleted."}
    return {"ok": True, "conversation": payload}


@socketio.on("ask")
def ask(data: Any = None) -> dict[str, Any]:
    """Start a round; the acknowledgement says which round (or why not)."""
    problem = _refusal(data, '{"conversation_id": ..., "text": ...}')
    if problem:
        return {"ok": False, "error": problem}
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sid = request.sid  # type: ignore[attr-defined]
    conversation_id, text = data.get("conversation_id"), data.get("text")
    if conversation_id is not None and not _is_id(conversation_id):
        return {"ok": False, "error": "conversation_id must be a number."}
    if not isinstance(text, str):
        return {"ok": False, "error": "text must be the question, as a string."}
    # everyone watching the conversation, and the asker even once it looks at another one;
    # a new conversation has no watchers until the round has stored it
    recipients = [sid]
    if conversation_id is not None:
        watch(conversation_id)
        recipients.insert(0, conversation_room(conversation_id))

    def emit_to_watchers(event: str, payload: dict[str, Any]) -> None:
        socketio.emit(event, payload, to=list(recipients))

    try:
        peer_review = data.get("peer_review")
        plan = get_council(app).start_round(
            conversation_id, text, emit_to_watchers,
            peer_review if isinstance(peer_review, bool) else None, owner=sid,
            personas=data.get("personas") or (), blind=data.get("blind", False),
            compare=data.get("compare"),
            parent_id=data["parent_round_id"] if "parent_round_id" in data else LATEST)
    except RoundError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001  (the browser must always get an answer)
        log.exception("could not start a round")
        return {"ok": False, "error": f"The server could not start this round "
                                      f"({type(exc).__name__}); try again, and see its log."}
    if conversation_id is None:
        watch(plan.conversation_id)
        recipients.insert(0, conversation_room(plan.conversation_id))
    return {"ok": True, "round_id": plan.round_id, "conversation_id": plan.conversation_id}


@socketio.on("stop_round")
def stop_round(data: Any = None) -> dict[str, Any]:
    """The tab that asked may stop its round, and so may a tab showing the round's conversation
    (a reload or a second tab, on this app process or another); a tab elsewhere may not."""
    problem = _refusal(data, '{"round_id": ...}')
    if problem:
        return {"ok": False, "error": problem}
    round_id = data.get("round_id")
    if not _is_id(round_id):
        return {"ok": False, "error": "round_id must be a number."}
    council = get_council()
    owner = council.owner(round_id)
    if owner != request.sid and not _shows_round(round_id):  # type: ignore[attr-defined]
        if owner is None:
            return {"ok": False, "error": "That round is not running."}
        return {"ok": False, "error": "Only the tab that asked, or one showing its "
                                      "conversation, may stop this round."}
    stopped = council.request_stop(round_id)
    return {"ok": stopped, "error": None if stopped else "That round is not running."}


def _shows_round(round_id: int) -> bool:
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        return round_ is not None and conversation_room(round_.conversation_id) in rooms()
