"""Judging two answers to one question, as MT-Bench's pairwise judge does: the judge explains,
then gives a verdict written `[[A]]`, `[[B]]` or `[[C]]` (a tie).

Each pair is judged twice with the answers' order swapped (`pair_outcome`): a win counts
only when both orders name the same answer, anything else is a tie, and whether the two
orders agreed is kept, so the report can say how much the judge follows position rather
than content. A reply without a verdict is asked once more for one; after that it is
missing, never a win.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..llm.base import ChatMessage
from .stats import LOSS, TIE, WIN

JUDGE_PROMPT_VERSION = "pairwise-1"  # part of the cache key: a new prompt judges afresh
JUDGE_TEMPERATURE = 0.0  # the same pair in the same order gets the same verdict

JUDGE_SYSTEM_PROMPT = """You judge answers impartially. Below is a user's question and two \
answers to it, from assistant A and assistant B. Decide which answer serves the user better: \
the one that is correct, answers what was asked, and is helpful, clear and specific. The order \
in which the answers appear must not sway you, and neither must their length: a longer answer \
is better only when what it adds is useful. First compare the two answers in a few sentences. \
Then give your verdict on a line of its own, exactly as one of: [[A]] if A is better, [[B]] if \
B is better, [[C]] if they are equally good."""

RETRY_REQUEST = ("Give your final verdict now, on a line of its own, exactly as [[A]], [[B]] "
                 "or [[C]].")

VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")


def judge_key(model: str) -> str:
    """What a cached judgement belongs to: the judge model and this prompt."""
    return hashlib.sha256(f"{JUDGE_PROMPT_VERSION}\n{model}".encode()).hexdigest()[:32]


def judge_messages(question: str, first: str, second: str) -> list[ChatMessage]:
    """The judge's request, with `first` shown as assistant A and `second` as B."""
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT},
            {"role": "user", "content": (
                f"[Question]\n{question}\n\n"
                f"[Assistant A's answer]\n{first.strip()}\n[End of assistant A's answer]\n\n"
                f"[Assistant B's answer]\n{second.strip()}\n[End of assistant B's answer]")}]


def parse_verdict(reply: str) -> str | None:
    """A, B or C from a judge's reply; None when it gives none or contradicts itself.

    A reply that repeats the format ("[[A]] if A is better, [[B]] if …") and then decides
    is read by its last line that holds a verdict.
    """
    found = VERDICT.findall(reply)
    if not found:
        return None
    if len(set(found)) == 1:
        return found[0]
    for line in reversed(reply.strip().splitlines()):
        on_line = set(VERDICT.findall(line))
        if len(on_line) == 1:
            return on_line.pop()
        if on_line:
            return None
    return None


@dataclass(frozen=True)
class Judgement:
    """One order's verdict (A, B, C or None), how many requests it took, the last reply."""

    verdict: str | None
    attempts: int
    reply: str


def judge_once(ask: Callable[[list[ChatMessage]], str], question: str, first: str,
               second: str) -> Judgement:
    """Ask the judge for one order's verdict; a reply without one is followed up once."""
    messages = judge_messages(question, first, second)
    reply = ask(messages)
    verdict = parse_verdict(reply)
    if verdict is not None:
        return Judgement(verdict, 1, reply)
    retry = ask([*messages, {"role": "assistant", "content": reply},
                 {"role": "user", "content": RETRY_REQUEST}])
    return Judgement(parse_verdict(retry), 2, retry)


@dataclass(frozen=True)
class PairOutcome:
    """Both orders of one pair, from the first contestant's side: WIN, TIE or LOSS (None when
    an order had no verdict), and whether the two orders agreed (None when missing)."""

    score: float | None
    consistent: bool | None


def pair_outcome(first_shown_first: str | None, first_shown_second: str | None) -> PairOutcome:
    """Combine the verdict with the first contestant shown as A and the verdict with it
    shown as B: a win only when both orders pick the same answer."""
    if first_shown_first is None or first_shown_second is None:
        return PairOutcome(None, None)
    winner_a = {"A": "first", "B": "second", "C": "tie"}[first_shown_first]
    winner_b = {"A": "second", "B": "first", "C": "tie"}[first_shown_second]
    if winner_a != winner_b:
        return PairOutcome(TIE, False)
    return PairOutcome({"first": WIN, "second": LOSS, "tie": TIE}[winner_a], True)
