"""Who answers when the user says so: personas picked on the page, or named in the question.

`@Skeptic` (a persona's name without spaces, or its slug) in the question, or `@everyone`, makes
those personas speak instead of the router's choice; a mention that names no persona (a
decorator in pasted code, an e-mail address) is left to the router.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..models import Persona
from .plan import RoundError

MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][\w-]*)")
EVERYONE = "everyone"


def mention_names(persona: Persona) -> set[str]:
    """What `@…` may say to name `persona`: its name without spaces, or its slug."""
    return {persona.name.casefold().replace(" ", ""), persona.slug,
            persona.slug.replace("-", "")}


def chosen_personas(question: str, picked: Sequence[int] | str,
                    personas: list[Persona]) -> set[int]:
    """Ids of the personas that must speak; empty when the router decides.

    `picked` is what the page's picker sent: persona ids, "everyone", or nothing.
    """
    enabled = {p.id: p for p in personas if p.enabled}
    if picked == EVERYONE:
        return set(enabled)
    if picked:
        unknown = [i for i in picked if i not in enabled]
        if unknown:
            raise RoundError("Only enabled personas can be asked; enable them on the Personas "
                             "page or pick others.")
        return set(picked)
    mentions = {m.casefold() for m in MENTION.findall(question)}
    if EVERYONE in mentions:
        return set(enabled)
    return {pid for pid, persona in enabled.items() if mention_names(persona) & mentions}
