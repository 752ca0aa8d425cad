"""What each model is sent: a worker's messages and the synthesizer's, history trimmed to fit.

Workers see the conversation as user turns and their *own* earlier answers, with the council's
final answer added as a note; the synthesizer sees user turns and its earlier syntheses. The
oldest turns are dropped first when the context window (num_ctx) would overflow, measured by
the backend's `count_tokens`: the model's own tokenizer where the app has it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .llm.base import ChatMessage, PromptTooLong
from .models import Round

SYNTH_SYSTEM_PROMPT = """You are the synthesizer of AI Council. Several advisors with different \
perspectives have drafted answers to the user's question. Write one clear, accurate answer in \
your own words: keep what is correct and useful, drop repetition, and where the drafts \
disagree, say so briefly and side with the better argued one. The drafts come most trusted \
first. Start with the answer itself, never with a name, a heading or a number about the \
drafts, and do not mention the drafts or the advisors. Use Markdown."""

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


def trust_order(answers: list[LabelledAnswer]) -> list[LabelledAnswer]:
    """Most trusted first: the router's weight, then the user's rating, then the peer rank.
    The synthesizer is told the order, never the figures, which a small model recites."""
    return sorted(answers, key=lambda a: (-a.weight, -(a.rating or 0.0),
                                          a.peer_position if a.peer_position is not None
                                          else float("inf")))


def trust_basis(answers: list[LabelledAnswer]) -> str:
    """What the order of the drafts stands for, in words."""
    basis = ["how well each advisor suits the question"]
    if any(a.rating is not None for a in answers):
        basis.append("how often the user preferred it")
    if any(a.peer_position is not None for a in answers):
        basis.append("its peer rank among the advisors")
    return ", ".join(basis)


def synthesis_request(question: str, answers: list[LabelledAnswer], share: int) -> str:
    """The synthesizer's user message: the drafts with no names or figures in them, most
    trusted first; each cut to `share` characters."""
    blocks = []
    for answer in trust_order(answers):
        text = answer.text if len(answer.text) <= share else answer.text[:share] + " […]"
        blocks.append(f"<draft>\n{text.strip()}\n</draft>\n")
    return (f"Question: {question}\n\nDrafts, most trusted first ({trust_basis(answers)}):"
            f"\n\n{''.join(blocks)}\nNow answer the question in your own words: {question}")


LEADING_FIGURES = re.compile(
    r"^[\s(\[]*(?:(?:weight|rating|peer rank|score)\s*[:=]?\s*[\d.,%]+[\s,;]*)+[)\]]*",
    re.IGNORECASE)
LEADING_NOISE = re.compile(r"^[\s#>*_\-–—:]+")
DRAFT_TAG = re.compile(r"</?draft>\s*", re.IGNORECASE)  # the request's own markup
LABEL_TAIL = re.compile(r"^[\s:*_\-–—)\]]+")  # what is left of a label once it is taken off
LABEL_END = re.compile(r"\s*(?:[:(\[\-–—*_]|\n|$)")
GENERIC_LABELS = (r"(?:the\s+)?(?:council'?s?\s+)?(?:final\s+|best\s+|combined\s+)?"
                  r"(?:answer|draft|response|synthesis)(?:\s*\d+)?(?:\s+is)?")


def strip_answer_label(text: str, names: list[str]) -> str:
    """The council answer without a label it starts with: a persona's name, "Answer 1",
    "The answer is", a weight or a rating (what a small model copies from the prompt), and
    without the request's <draft> tags. Text with neither is kept as it is."""
    labels = [re.escape(name) for name in names if name.strip()] + [GENERIC_LABELS]
    label = re.compile(rf"^(?:{'|'.join(labels)})", re.IGNORECASE)
    rest = untagged = DRAFT_TAG.sub("", text)
    while True:
        start = LEADING_NOISE.sub("", rest)
        after = LEADING_FIGURES.sub("", start)
        unlabelled = label.sub("", after, count=1)
        # a name is a label only when something marks it off (a colon, figures, a newline)
        if unlabelled != after and LABEL_END.match(unlabelled):
            after = unlabelled
        if after == start:
            break
        rest = after
    if rest != untagged:
        return LABEL_TAIL.sub("", rest).strip()
    return untagged.strip() if untagged != text else text


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
