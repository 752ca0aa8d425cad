"""Who answers when the user says so: personas picked on the page, or named in the question.

`@Name` (the name the page shows, its role word, or the slug: `mentions.py` says how a mention
is read) or `@everyone` in the question makes those personas speak instead of the router's
choice; a mention that names no one or several is left to the router, and the round says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models import Persona
from .mentions import EVERYONE, resolve
from .plan import RoundError


@dataclass(frozen=True)
class Choice:
    """The persona ids the user asked for (empty: the router decides), and the notice the round
    shows about mentions that named no one clearly."""

    ids: frozenset[int]
    notice: str | None = None

    def record(self) -> dict[str, Any]:
        """What the round's routing record keeps of it, for the page."""
        return {"mention_notice": self.notice}


def chosen_personas(question: str, picked: Sequence[int] | str,
                    personas: list[Persona]) -> Choice:
    """Who must speak: the page's picker if it says, else the question's mentions.

    `picked` is what the page's picker sent: persona ids, "everyone", or nothing.
    """
    enabled = {p.id for p in personas if p.enabled}
    if picked == EVERYONE:
        return Choice(frozenset(enabled))
    if picked:
        if any(i not in enabled for i in picked):
            raise RoundError("Only enabled personas can be asked; enable them on the Personas "
                             "page or pick others.")
        return Choice(frozenset(picked))
    resolved = resolve(question, personas)
    return Choice(resolved.chosen, resolved.notice())
