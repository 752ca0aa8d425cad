"""Rows a test needs in the database without running a round, and a fake embedder for the
views that read them (analytics, suggestions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.orm import Session

from council.db import MIGRATIONS_DIR, make_engine
from council.models import Conversation, Persona, Round, WorkerAnswer


def database_at(url: str, revision: str, statements: list[str]) -> None:
    """The database at an old schema `revision`, with the rows `statements` insert (an app
    built on it then upgrades it, as a user's would)."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def new_round(session: Session, message: str = "a question", **columns: Any) -> Round:
    """A round in a conversation of its own, flushed so that it has its id."""
    conversation = Conversation()
    session.add(conversation)
    session.flush()
    round_ = Round(conversation_id=conversation.id, user_message=message, **columns)
    session.add(round_)
    session.flush()
    return round_


class FakeEmbedder:
    """Fixed vectors per text (normalised here), and a record of what it was asked to embed."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.name = "fake"
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = np.array([self.vectors[text] for text in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def add_round(session: Session, personas: list[Persona], answers: dict[int, tuple[str, str]],
              started_at: datetime | None = None, routing: dict[str, Any] | None = None,
              message: str = "a question") -> Round:
    """A finished round with one answer per persona index: (status, text)."""
    round_ = new_round(session, message, status="done", routing=routing,
                       started_at=started_at or datetime.now(UTC))
    for index, (status, text) in answers.items():
        persona = personas[index]
        session.add(WorkerAnswer(round_id=round_.id, persona_id=persona.id,
                                 persona_name=persona.name, persona_color=persona.color,
                                 model="demo", status=status, text=text))
    session.flush()
    return round_


def routing_for(personas: list[Persona], selected: set[int], entropy: float,
                weights: list[float] | None = None) -> dict[str, Any]:
    """A routing record as the router stores it: by persona index, who was selected and the
    weights (even unless given)."""
    weights = weights or [1 / len(personas)] * len(personas)
    return {"features": {}, "entropy": entropy,
            "decisions": [{"persona_id": p.id, "name": p.name, "color": p.color,
                           "weight": weights[i], "selected": i in selected, "reason": ""}
                          for i, p in enumerate(personas)]}
