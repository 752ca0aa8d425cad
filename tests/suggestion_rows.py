"""The history the suggestions' tests write: questions the router was unsure about, and rounds
where two personas give the same answer (tests/test_suggestions.py, the browser test)."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from council.analytics import MIN_SHARED_QUESTIONS
from council.models import Persona, Vote
from council.personas import list_personas
from tests.rows import add_round, routing_for

# Questions no shipped persona suits, each distinct enough for discovery to keep.
UNSURE = ["What is a B-tree and when does it beat a hash index?",
          "How do vaccines teach the immune system to fight a virus?",
          "Why is the sky blue at noon but red at sunset?",
          "What caused the fall of the Western Roman Empire?",
          "How does compound interest grow savings over thirty years?",
          "What is the difference between a virus and a bacterium?",
          "How do the moon and the sun cause the tides?",
          "Why do cats purr when they are content?",
          "How did the printing press change European politics?"]
UNSURE_WEIGHTS = [0.3, 0.25, 0.25, 0.2]  # top 0.30 < 1.6 x an even 0.25
SURE_WEIGHTS = [0.7, 0.1, 0.1, 0.1]
SAME = ("Cache the responses in Redis with a five minute expiry, and invalidate the key "
        "whenever the underlying record changes.")
OTHERS = ["The French Revolution began in 1789 with the storming of the Bastille.",
          "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
          "A sonnet has fourteen lines, often in iambic pentameter."]


def entropy(weights: list[float]) -> float:
    return -sum(w * math.log2(w) for w in weights)


def route(session: Session, questions: list[str], weights: list[float],
          selected: set[int] | None = None) -> None:
    """One routed round per question over the shipped personas (no answers)."""
    personas = list_personas(session)
    for question in questions:
        add_round(session, personas, {}, message=question, routing=routing_for(
            personas, selected if selected is not None else {0}, entropy(weights), weights))


def answer_alike(session: Session, best: int, rounds: int = MIN_SHARED_QUESTIONS,
                 voted: int | None = None) -> list[Persona]:
    """`rounds` rounds (by default the fewest a merge needs) where personas 0 and 1 give the
    same answer and 2 another; `best` (an index) is voted best in the first `voted` (all)."""
    personas = list_personas(session)
    for k in range(rounds):
        round_ = add_round(session, personas, {0: ("done", SAME), 1: ("done", SAME),
                                               2: ("done", f"{OTHERS[k % len(OTHERS)]} ({k})")},
                           message=f"How should I cache this, take {k}?")
        if voted is not None and k >= voted:
            continue
        winner = next(a for a in round_.answers if a.persona_id == personas[best].id)
        session.add(Vote(round_id=round_.id, kind="best", answer_id=winner.id,
                         persona_id=winner.persona_id, weights={}))
    session.flush()
    return personas
