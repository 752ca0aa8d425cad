"""What each model is sent: a worker's messages and the synthesizer's, history trimmed to fit.

Workers see the conversation as user turns and their *own* earlier answers, with the council's
final answer added as a note; the synthesizer sees user turns and its earlier syntheses. The
oldest turns are dropped first when the context window (num_ctx) would overflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .llm.base import ChatMessage
from .models import Round

SYNTH_SYSTEM_PROMPT = """You are the synthesizer of AI Council. Several advisors with different \
perspectives have answered the user's question. Merge their answers into one clear, accurate \
answer in your own words: keep what is correct and useful, drop repetition, resolve \
disagreements with your own judgement (say briefly where they disagree and why you side as \
you do), and lean more on answers with a higher weight (how well the advisor suits this \
question), a higher rating (how often the user preferred that advisor; 1000 is average) and a \
better peer rank (how the other advisors ranked it; 1 is best), when given. Do \
not mention weights or ratings or list the \
advisors one by one; answer the user directly. Use Markdown."""

CHARS_PER_TOKEN = 3


def estimate_tokens(text: str) -> int:
    """A cautious estimate (about 3 characters a token) that errs towards trimming more."""
    return len(text) // CHARS_PER_TOKEN + 4


@dataclass(frozen=True)
class PastRound:
    question: str
    synthesis: str | None
    answers: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelledAnswer:
    name: str
    weight: float
    text: str
    rating: float | None = None
    peer_position: float | None = None


def load_history(session: Session, conversation_id: int, before_round_id: int) -> list[PastRound]:
    """Earlier rounds of a conversation, oldest first, with whatever text each produced."""
    rounds = session.scalars(
        select(Round).where(Round.conversation_id == conversation_id, Round.id < before_round_id)
        .order_by(Round.id).options(selectinload(Round.answers), selectinload(Round.synthesis)))
    history = []
    for past in rounds:
        synthesis = past.synthesis.text if past.synthesis and past.synthesis.text else None
        answers = {a.persona_id: a.text for a in past.answers if a.persona_id and a.text}
        history.append(PastRound(past.user_message, synthesis, answers))
    return history


def _fit_newest(turns: list[list[ChatMessage]], budget: int) -> list[ChatMessage]:
    """Keep the newest whole turns that fit in `budget` tokens, in their original order."""
    kept: list[list[ChatMessage]] = []
    for turn in reversed(turns):
        cost = sum(estimate_tokens(m["content"]) for m in turn)
        if cost > budget:
            break
        budget -= cost
        kept.append(turn)
    return [message for turn in reversed(kept) for message in turn]


def worker_messages(system_prompt: str, persona_id: int | None, history: list[PastRound],
                    question: str, num_ctx: int, num_predict: int) -> list[ChatMessage]:
    turns = []
    for past in history:
        own = past.answers.get(persona_id) if persona_id is not None else None
        turn: list[ChatMessage] = [{"role": "user", "content": past.question}]
        if own:
            turn.append({"role": "assistant", "content": own})
            if past.synthesis:
                turn.append({"role": "system",
                             "content": f"The council's combined answer was:\n{past.synthesis}"})
        elif past.synthesis:
            turn.append({"role": "assistant", "content": past.synthesis})
        turns.append(turn)
    budget = num_ctx - num_predict - estimate_tokens(system_prompt) - estimate_tokens(question)
    return [{"role": "system", "content": system_prompt}, *_fit_newest(turns, budget),
            {"role": "user", "content": question}]


def synthesis_request(question: str, answers: list[LabelledAnswer], budget: int) -> str:
    """The synthesizer's user message; each answer is cut to a fair share if all cannot fit."""
    header = f"Question: {question}\n\nAnswers from the council:\n"
    footer = "\nWrite the council's single best answer to the question."
    room = budget - estimate_tokens(header + footer) - 12 * len(answers)
    share = max(room // max(len(answers), 1), 32) * CHARS_PER_TOKEN
    blocks = []
    for answer in answers:
        text = answer.text if len(answer.text) <= share else answer.text[:share] + " […]"
        rating = f", rating {answer.rating:.0f}" if answer.rating is not None else ""
        if answer.peer_position is not None:
            rating += f", peer rank {answer.peer_position:.1f}"
        blocks.append(f"\n### {answer.name} (weight {answer.weight:.2f}{rating})\n"
                      f"{text.strip()}\n")
    return header + "".join(blocks) + footer


def synthesis_messages(history: list[PastRound], question: str, answers: list[LabelledAnswer],
                       num_ctx: int, num_predict: int) -> list[ChatMessage]:
    budget = num_ctx - num_predict - estimate_tokens(SYNTH_SYSTEM_PROMPT)
    request = synthesis_request(question, answers, budget)
    turns = [[{"role": "user", "content": past.question},
              {"role": "assistant", "content": past.synthesis}]
             for past in history if past.synthesis]
    return [{"role": "system", "content": SYNTH_SYSTEM_PROMPT},
            *_fit_newest(turns, budget - estimate_tokens(request)),
            {"role": "user", "content": request}]
