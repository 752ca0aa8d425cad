"""Rows a test needs in the database without running a round."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from council.models import Conversation, Round


def new_round(session: Session, message: str = "a question", **columns: Any) -> Round:
    """A round in a conversation of its own, flushed so that it has its id."""
    conversation = Conversation()
    session.add(conversation)
    session.flush()
    round_ = Round(conversation_id=conversation.id, user_message=message, **columns)
    session.add(round_)
    session.flush()
    return round_
