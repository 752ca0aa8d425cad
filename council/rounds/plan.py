"""The small records a round passes from stage to stage: request → plan → outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..prompts import PastRound
from ..variants import adapters_shown

Emit = Callable[[str, dict[str, Any]], None]
MAX_MESSAGE_CHARS = 20_000
LATEST = "latest"  # a new round follows the branch its conversation shows


class RoundError(ValueError):
    """A round that cannot start; the message says why."""


@dataclass(frozen=True)
class RoundRequest:
    """A question the council has agreed to answer."""

    conversation_id: int | None  # None: a new conversation, stored with its first round
    question: str
    peer_review: bool
    personas: tuple[int, ...] | str = ()  # picked on the page: ids, "everyone", or the router
    # the round this one follows: LATEST (the conversation's shown branch), a round id (a
    # regenerate or an edit starts a sibling there), or None (a new first question)
    parent_id: int | None | str = LATEST
    blind: bool = False  # names hidden until the vote: the synthesizer is not told them either
    compare: bool = False  # the synthesizer model also answers alone, to be judged against

    @classmethod
    def validated(cls, conversation_id: int | None, text: str, peer_review: bool,
                  personas: object = (), parent_id: object = LATEST,
                  blind: object = False, compare: object = False) -> RoundRequest:
        if personas not in (None, (), "everyone") and not (
                isinstance(personas, list | tuple)
                and all(isinstance(p, int) and not isinstance(p, bool) for p in personas)):
            raise RoundError('Pick personas as a list of ids, or "everyone".')
        question = (text or "").strip()
        if not question:
            raise RoundError("Type a question first.")
        if len(question) > MAX_MESSAGE_CHARS:
            raise RoundError(f"That message is {len(question):,} characters; the limit is "
                             f"{MAX_MESSAGE_CHARS:,}. Shorten it or split it in parts.")
        if parent_id != LATEST and parent_id is not None and (
                not isinstance(parent_id, int) or isinstance(parent_id, bool)):
            raise RoundError("parent_round_id must be a round's id or null.")
        if not isinstance(blind, bool):
            raise RoundError("blind must be true or false.")
        if not isinstance(compare, bool):
            raise RoundError("compare must be true or false.")
        return cls(conversation_id, question, peer_review,
                   personas if isinstance(personas, str) else tuple(personas or ()), parent_id,
                   blind, compare)


@dataclass(frozen=True)
class PlannedWorker:
    """One persona that speaks this round, as it was when the round started."""

    persona_id: int
    name: str
    color: str
    system_prompt: str
    model: str
    variant: str
    weight: float
    options: dict[str, Any]
    answer_id: int = 0  # its WorkerAnswer row, once stored

    def payload(self) -> dict[str, Any]:
        """How `round_started` introduces the worker to the browser."""
        return {"answer_id": self.answer_id, "persona_id": self.persona_id, "name": self.name,
                "color": self.color, "model": self.model, "variant": self.variant,
                "adapters": adapters_shown(self.options), "weight": self.weight}


@dataclass(frozen=True)
class PlannedComparison:
    """A compare round's solo answer: its `Comparison` row, and the side ("A" or "B") the
    council answer is shown on."""

    comparison_id: int
    council_position: str


@dataclass(frozen=True)
class RoundPlan:
    """A stored round: who speaks with what, and the conversation so far."""

    round_id: int
    conversation_id: int
    parent_id: int | None
    request: RoundRequest
    routing: dict[str, Any]
    history: list[PastRound]
    workers: list[PlannedWorker]
    synth_model: str
    comparison: PlannedComparison | None = None  # a compare round's (rounds/compare.py)

    @property
    def question(self) -> str:
        return self.request.question

    def started_payload(self) -> dict[str, Any]:
        return {"round_id": self.round_id, "conversation_id": self.conversation_id,
                "parent_id": self.parent_id,
                "user_message": self.question, "synth_model": self.synth_model,
                "routing": self.routing, "workers": [w.payload() for w in self.workers],
                "compare": None if self.comparison is None else {"status": "waiting"}}


@dataclass(frozen=True)
class RoundOutcome:
    """How a round ended: done, stopped or failed, and why when it did not finish."""

    status: str
    error: str | None = None
