"""What each model is sent: a worker's messages and the synthesizer's, history trimmed to fit.

Workers see the conversation as user turns and their *own* earlier answers, with the council's
final answer added as a note; the synthesizer sees user turns and its earlier syntheses. The
oldest turns are dropped first when the context window (num_ctx) would overflow, measured by
the backend's `count_tokens`: the model's own tokenizer where the app has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .llm.base import ChatMessage, PromptTooLong
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

# what the synthesizer model alone is told when it answers as the council's rival (a compare
# round's solo answer, `council eval`'s solo and --also contestants): no persona, no council
SOLO_SYSTEM_PROMPT = "You are a helpful assistant. Answer the user's question. Use Markdown."

TokenCounter = Callable[[list[ChatMessage]], int]
MIN_SHARE_CHARS = 200  # the least of each answer the synthesizer is shown


def answer_room(num_ctx: int, num_predict: int) -> int:
    """Tokens kept free for the answer: num_predict, but never more than half the window."""
    return min(num_predict, num_ctx // 2)


@dataclass(frozen=True)
class PastRound:
    """An earlier round of the conversation: the question, the council's answer, and each
    persona's own answer by persona id."""

    question: str
    synthesis: str | None
    answers: dict[int, str] = field(default_factory=dict)


def load_history(session: Session, conversation_id: int,
                 parent_id: int | None) -> list[PastRound]:
    """The rounds a new round follows: `parent_id` and its ancestors (its branch of the
    conversation, not the siblings a regenerate or an edit left), oldest first."""
    rounds = {r.id: r for r in session.scalars(
        select(Round).where(Round.conversation_id == conversation_id)
        .options(selectinload(Round.answers), selectinload(Round.synthesis)))}
    branch = []
    while parent_id is not None and parent_id in rounds:
        branch.append(rounds[parent_id])
        parent_id = rounds[parent_id].parent_id
    history = []
    for past in reversed(branch):
        synthesis = past.synthesis.text if past.synthesis and past.synthesis.text else None
        answers = {a.persona_id: a.text for a in past.answers if a.persona_id and a.text}
        history.append(PastRound(past.user_message, synthesis, answers))
    return history


def fit_history(head: list[ChatMessage], turns: list[list[ChatMessage]],
                tail: list[ChatMessage], count: TokenCounter, limit: int) -> list[ChatMessage]:
    """`head`, the newest whole `turns` that fit, then `tail`: at most `limit` tokens as the
    model counts them (a binary search over how many turns to keep)."""
    def build(kept: int) -> list[ChatMessage]:
        newest = turns[len(turns) - kept:] if kept else []
        return [*head, *(message for turn in newest for message in turn), *tail]

    size = count(build(0))
    if size > limit:
        raise PromptTooLong(f"The message and instructions alone take {size} tokens, more than "
                            f"the {limit} the context window leaves (COUNCIL_NUM_CTX). Shorten "
                            "the message or raise COUNCIL_NUM_CTX.")
    low, high = 0, len(turns)
    while low < high:
        middle = (low + high + 1) // 2
        if count(build(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return build(low)


def worker_messages(system_prompt: str, persona_id: int | None, history: list[PastRound],
                    question: str, num_ctx: int, num_predict: int,
                    count: TokenCounter) -> list[ChatMessage]:
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
    return fit_history([{"role": "system", "content": system_prompt}], turns,
                       [{"role": "user", "content": question}], count,
                       num_ctx - answer_room(num_ctx, num_predict))


@dataclass(frozen=True)
class LabelledAnswer:
    """A worker's answer as the synthesizer is shown it: `rating` is the persona's Bradley–Terry
    rating (1000 is average; None before any vote), `peer_position` its mean peer rank."""

    name: str
    weight: float
    text: str
    rating: float | None = None
    peer_position: float | None = None


def synthesis_request(question: str, answers: list[LabelledAnswer], share: int) -> str:
    """The synthesizer's user message; each answer is cut to `share` characters."""
    blocks = []
    for answer in answers:
        text = answer.text if len(answer.text) <= share else answer.text[:share] + " […]"
        rating = f", rating {answer.rating:.0f}" if answer.rating is not None else ""
        if answer.peer_position is not None:
            rating += f", peer rank {answer.peer_position:.1f}"
        blocks.append(f"\n### {answer.name} (weight {answer.weight:.2f}{rating})\n"
                      f"{text.strip()}\n")
    return (f"Question: {question}\n\nAnswers from the council:\n" + "".join(blocks)
            + "\nWrite the council's single best answer to the question.")


def synthesis_messages(history: list[PastRound], question: str, answers: list[LabelledAnswer],
                       num_ctx: int, num_predict: int, count: TokenCounter) -> list[ChatMessage]:
    """The answers are cut to an equal share, shrunk until the request fits the window."""
    limit = num_ctx - answer_room(num_ctx, num_predict)
    system: ChatMessage = {"role": "system", "content": SYNTH_SYSTEM_PROMPT}
    share = max((len(a.text) for a in answers), default=0)
    request = synthesis_request(question, answers, share)
    while share > MIN_SHARE_CHARS and count([system, {"role": "user", "content": request}]) > limit:
        share = max(int(share * 0.7), MIN_SHARE_CHARS)
        request = synthesis_request(question, answers, share)
    turns = [[{"role": "user", "content": past.question},
              {"role": "assistant", "content": past.synthesis}]
             for past in history if past.synthesis]
    return fit_history([system], turns, [{"role": "user", "content": request}], count, limit)
