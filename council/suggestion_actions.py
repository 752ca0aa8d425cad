"""The suggestions' one-click actions: discovery on the unsure questions, merge, retire.

Growth writes the unsure questions as a small ShareGPT export in the Discover upload folder and
starts a `discover` job on it, so its result appears on the Discover page to review and import
like any other. Merge and retire only disable (and merge copies example messages): nothing is
deleted, and enabling the persona again on the Personas page undoes either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .atomic import write_json_atomic
from .errors import NotFound
from .files import PersonaFiles
from .models import Persona, utcnow
from .personas import MAX_EXAMPLES, update_persona
from .suggestions import GROW_SOURCE, MIN_COUNCIL, UnsureRound, growth_suggestion, unsure_rounds

# Discovery splits the unsure questions (at most GROWTH_ROUNDS) into this many candidates: each
# stays backed by several questions, and the Discover page imports only those ticked.
GROW_CLUSTERS = 2


class SuggestionError(ValueError):
    """An action that cannot be done as asked; the message says why."""


class NothingToGrow(SuggestionError):
    """No growth suggestion holds any more (e.g. its discovery was already started)."""


class NoSuchPersona(SuggestionError, NotFound):
    """The persona an action names does not exist (any more)."""


class Jobs(Protocol):
    def submit(self, kind: str, args: dict[str, Any]) -> int: ...


@dataclass(frozen=True)
class GrowthStarted:
    job_id: int
    upload: str
    questions: int


def growth_questions(session: Session) -> list[UnsureRound]:
    """The unsure questions behind the growth suggestion; NothingToGrow when there is none."""
    found = unsure_rounds(session)
    if growth_suggestion(found) is None:
        raise NothingToGrow("There is no growth suggestion now: too few recent questions "
                            "routed unsure since the council last changed.")
    return found.unsure


def write_questions_export(files: PersonaFiles, unsure: list[UnsureRound]) -> str:
    """The questions as a ShareGPT export (one conversation each) in the upload folder; its
    name, unique to the second."""
    name = f"unsure-questions-{utcnow():%Y%m%d-%H%M%S}.json"
    write_json_atomic(files.raw_imports / name, [
        {"id": f"round-{u.round_id}", "conversations": [{"from": "human", "value": u.question}]}
        for u in unsure])
    return name


def start_growth(unsure: list[UnsureRound], files: PersonaFiles, jobs: Jobs) -> GrowthStarted:
    """Discovery on the unsure questions (`growth_questions`), as the Discover page's run
    starts it; the job is marked so that these rounds are not suggested again."""
    name = write_questions_export(files, unsure)
    path: Path = files.raw_imports / name
    job_id = jobs.submit("discover", {"input": str(path), "upload": name,
                                      "clusters": GROW_CLUSTERS, "suggested": GROW_SOURCE,
                                      "rounds": [u.round_id for u in unsure]})
    return GrowthStarted(job_id, name, len(unsure))


def _enabled_persona(session: Session, persona_id: int) -> Persona:
    persona = session.get(Persona, persona_id)
    if persona is None:
        raise NoSuchPersona(f"There is no persona {persona_id}; it may have been deleted.")
    if not persona.enabled:
        raise SuggestionError(f"{persona.name} is already disabled.")
    return persona


def _keep_a_council(session: Session) -> None:
    enabled = session.scalar(select(func.count(Persona.id)).where(
        Persona.enabled.is_(True))) or 0
    if enabled <= MIN_COUNCIL:
        raise SuggestionError(f"Only {enabled} personas are enabled; disabling one would leave "
                              f"the council without two answers to compare.")


def retire_persona(session: Session, persona_id: int) -> Persona:
    """Disable the persona (its answers, votes and routing examples stay)."""
    persona = _enabled_persona(session, persona_id)
    _keep_a_council(session)
    persona.enabled = False
    session.flush()
    return persona


@dataclass(frozen=True)
class Merged:
    kept: Persona
    disabled: Persona
    examples_added: int


def merge_personas(session: Session, keep_id: int, disable_id: int) -> Merged:
    """`keep` gains `disable`'s example messages it lacks (so the router sends it their
    questions; up to MAX_EXAMPLES), and `disable` is disabled with its own left as they were."""
    if keep_id == disable_id:
        raise SuggestionError("Choose two different personas to merge.")
    kept, other = _enabled_persona(session, keep_id), _enabled_persona(session, disable_id)
    _keep_a_council(session)
    examples = list(kept.example_messages or [])
    added = [e for e in dict.fromkeys(other.example_messages or []) if e not in examples]
    added = added[:max(0, MAX_EXAMPLES - len(examples))]
    if added:
        update_persona(session, kept, {"example_messages": examples + added})
    other.enabled = False
    session.flush()
    return Merged(kept, other, len(added))
