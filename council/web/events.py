"""Socket.IO events: the browser asks and stops; the round's events go back to that browser.

Handlers attach at import, before the shared SocketIO object is first bound, so every app
that `init_app` binds later gets them too.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request

from ..db import session_scope
from ..extensions import get_council, socketio
from ..models import Conversation
from ..rounds import RoundError

log = logging.getLogger(__name__)

@socketio.on("ask")
def ask(data: Any) -> dict[str, Any]:
    """Start a round; the acknowledgement says which round (or why not)."""
    if not isinstance(data, dict):
        return {"ok": False, "error": "Send {\"conversation_id\": ..., \"text\": ...}."}
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sid = request.sid  # type: ignore[attr-defined]
    conversation_id = data.get("conversation_id")
    if conversation_id is None:
        with session_scope(app) as session:
            conversation = Conversation()
            session.add(conversation)
            session.flush()
            conversation_id = conversation.id
    if not isinstance(conversation_id, int):
        return {"ok": False, "error": "conversation_id must be a number."}

    def emit_to_asker(event: str, payload: dict[str, Any]) -> None:
        socketio.emit(event, payload, to=sid)

    try:
        peer_review = data.get("peer_review")
        round_id = get_council(app).start_round(
            conversation_id, str(data.get("text") or ""), emit_to_asker,
            peer_review if isinstance(peer_review, bool) else None, owner=sid)
    except RoundError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001  (the browser must always get an answer)
        log.exception("could not start a round")
        return {"ok": False, "error": f"The server could not start this round "
                                      f"({type(exc).__name__}); try again, and see its log."}
    return {"ok": True, "round_id": round_id, "conversation_id": conversation_id}


@socketio.on("stop_round")
def stop_round(data: Any) -> dict[str, Any]:
    round_id = data.get("round_id") if isinstance(data, dict) else None
    if not isinstance(round_id, int):
        return {"ok": False, "error": "round_id must be a number."}
    stopped = get_council().stop_round(round_id)
    return {"ok": stopped, "error": None if stopped else "That round is not running."}
