"""Peer review (optional): each worker ranks the other answers, anonymised and shuffled.

Reviewers see "Response A/B/C" in an order shuffled per reviewer, so neither names nor
positions leak; their rankings are parsed strictly from a closing `FINAL RANKING: B, A, C`
line. A ranking that is missing, repeats a letter or leaves one out is recorded as
unparseable, never guessed. Parsed rankings average into the round's peer ranking
(mean position, 1 = best), which the synthesizer sees.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from string import ascii_uppercase

from .llm.base import ChatMessage

RANKING_LINE = re.compile(r"^\s*\**FINAL RANKING:?\**\s*(.+?)\s*$", re.I | re.M)

REVIEW_INSTRUCTIONS = """You are reviewing answers that other advisors gave to the same question. \
Judge them on accuracy, usefulness and clarity. Write a short assessment of each, then end with \
one line in exactly this form, best first, every response once:
FINAL RANKING: {example}"""


@dataclass(frozen=True)
class ReviewRequest:
    """What one reviewer is shown: letters mapped to the answers they stand for."""

    reviewer_answer_id: int
    labels: dict[str, int]
    messages: list[ChatMessage]


def build_review(reviewer_answer_id: int, system_prompt: str, question: str,
                 answers: dict[int, str], seed: str) -> ReviewRequest:
    """Anonymise and shuffle the *other* answers for one reviewer."""
    others = [answer_id for answer_id in answers if answer_id != reviewer_answer_id]
    random.Random(seed).shuffle(others)
    labels = {ascii_uppercase[i]: answer_id for i, answer_id in enumerate(others)}
    blocks = "".join(f"\nResponse {letter}:\n{answers[answer_id].strip()}\n"
                     for letter, answer_id in labels.items())
    example = ", ".join(labels)
    user = (f"Question: {question}\n\nAnswers to review:\n{blocks}\n"
            f"{REVIEW_INSTRUCTIONS.format(example=example)}")
    return ReviewRequest(reviewer_answer_id, labels,
                         [{"role": "system", "content": system_prompt},
                          {"role": "user", "content": user}])


def parse_ranking(text: str, labels: dict[str, int]) -> list[int] | None:
    """The ranked answer ids, or None when the last ranking line is not a full permutation."""
    lines = RANKING_LINE.findall(text)
    if not lines:
        return None
    letters = [part.strip().strip(".*").removeprefix("Response ").strip()
               for part in re.split(r"[,>]", lines[-1])]
    if sorted(letters) != sorted(labels):
        return None
    return [labels[letter] for letter in letters]


def aggregate_rankings(rankings: list[list[int]]) -> list[tuple[int, float, int]]:
    """(answer id, mean position with 1 = best, number of reviews), best first."""
    positions: dict[int, list[int]] = {}
    for ranking in rankings:
        for position, answer_id in enumerate(ranking, start=1):
            positions.setdefault(answer_id, []).append(position)
    summary = [(answer_id, sum(p) / len(p), len(p)) for answer_id, p in positions.items()]
    return sorted(summary, key=lambda item: (item[1], item[0]))
