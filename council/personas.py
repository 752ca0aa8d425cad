"""Persona rules in one place: validation, create/update/delete, JSON export/import, seeding.

The web forms, the JSON API and the import file all go through `validate_persona`, so a persona
that is refused in one place is refused everywhere with the same message.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain, count
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db import SEED_LOCK, hold_process_lock
from .llm.sampling import parse_sampling
from .models import AppState, Persona
from .router.rules import RuleError, validate_rules
from .slugs import slugify

EXPORT_FORMAT = "ai-council-personas"
EXPORT_VERSION = 1
EXPORTED_FIELDS = ("slug", "name", "description", "system_prompt", "model", "temperature",
                   "top_p", "sampling", "enabled", "color", "example_messages", "routing_rules")
PALETTE = ("#4f8cff", "#ef5b5b", "#b061ff", "#2fbf71", "#f5a623", "#17becf", "#e377c2",
           "#bcbd22", "#a0673a", "#8c8c8c")
GOLDEN_ANGLE = 137.508  # degrees: successive hues never land near one another
SEEDED_KEY = "seeded_personas"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
GGUF_PATH = re.compile(r"^[^\x00-\x1f\x7f]{1,195}\.gguf$")  # the embedded engine's files
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_EXAMPLES = 50  # example messages per persona: enough for a prototype, quick to embed


class PersonaError(ValueError):
    """Persona input that cannot be saved; `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class _Invalid(ValueError):
    """One field's value cannot be saved; the message says what to do."""


def _text(raw: Any, limit: int, too_long: str, missing: str | None = None) -> str:
    text = str(raw or "").strip()
    if missing and not text:
        raise _Invalid(missing)
    if len(text) > limit:
        raise _Invalid(too_long)
    return text


def _name(raw: Any) -> str:
    name = _text(raw, 80, "Keep the name to 80 characters or fewer.", "Give the persona a name.")
    if not slugify(name):
        raise _Invalid("The name needs at least one letter or digit.")
    return name


def _model(raw: Any) -> str:
    model = str(raw or "").strip()
    if model and not MODEL_NAME.match(model) and not GGUF_PATH.match(model):
        raise _Invalid("A model name looks like qwen2.5:3b (letters, digits and . _ : / @ + -), "
                       "a GGUF file is its path ending in .gguf; leave it empty to use the "
                       "default worker model.")
    return model


def _bounded(low: float, high: float, label: str) -> Callable[[Any], float]:
    def clean(raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise _Invalid(f"{label} must be a number between {low:g} and {high:g}.") from None
        if not low <= value <= high or value != value:
            raise _Invalid(f"{label} must be between {low:g} and {high:g}.")
        return value

    return clean


def _enabled(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(raw, str) and raw.lower() in ("0", "false", "off", "no", ""):
        return False
    raise _Invalid("Enabled must be true or false.")


def _color(raw: Any) -> str | None:
    """A #rrggbb colour, or None (left out) so that `create_persona` picks a free one."""
    color = str(raw or "").strip()
    if not color:
        return None
    if not COLOR.match(color):
        raise _Invalid("Colour must look like #4f8cff.")
    return color.lower()


def _examples(raw: Any) -> list[str]:
    examples = raw.splitlines() if isinstance(raw, str) else raw or []
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise _Invalid("Example messages must be a list of texts.")
    examples = [e.strip() for e in examples if e.strip()]
    if len(examples) > MAX_EXAMPLES or any(len(e) > 2_000 for e in examples):
        raise _Invalid(f"Keep to {MAX_EXAMPLES} example messages of under 2,000 characters.")
    return examples


def _sampling(raw: Any) -> str:
    """Repetition options over the workers' (`llm.sampling`), e.g. `repeat_penalty=1.2`."""
    try:
        return parse_sampling(str(raw or ""))
    except ValueError as exc:
        raise _Invalid(f"Sampling {exc}.") from None


def _rules(raw: Any) -> dict[str, Any]:
    try:
        if isinstance(raw, str):
            raw = yaml.safe_load(raw) if raw.strip() else {}
        return validate_rules(raw)
    except yaml.YAMLError as exc:
        raise _Invalid(f"Routing rules are not valid YAML: {exc}") from None
    except RuleError as exc:
        raise _Invalid(f"Routing rules: {exc}.") from None


# Each field: how it is cleaned, and its value when a new persona leaves it out.
FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "name": (_name, ""),
    "system_prompt": (lambda raw: _text(
        raw, 20_000, "Keep the system prompt under 20,000 characters.",
        "Write a system prompt: it is what makes this persona differ."), ""),
    "description": (lambda raw: _text(
        raw, 2_000, "Keep the description under 2,000 characters."), ""),
    "model": (_model, ""),
    "temperature": (_bounded(0.0, 2.0, "Temperature"), 0.7),
    "top_p": (_bounded(0.01, 1.0, "Top-p"), 0.9),
    "sampling": (_sampling, ""),
    "enabled": (_enabled, True),
    "color": (_color, None),
    "example_messages": (_examples, None),
    "routing_rules": (_rules, None),
}


def validate_persona(data: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """Clean persona fields or raise `PersonaError` naming every bad field.

    With `partial`, absent fields are left out (an edit of some fields); otherwise name and
    system prompt are required and the rest get defaults.
    """
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, (cleaner, default) in FIELDS.items():
        if partial and data.get(key) is None:
            continue
        try:
            clean[key] = cleaner(data.get(key, default))
        except _Invalid as exc:
            errors[key] = str(exc)
    if errors:
        raise PersonaError(errors)
    return clean


def list_personas(session: Session, enabled_only: bool = False) -> list[Persona]:
    query = select(Persona).order_by(Persona.position, Persona.id)
    if enabled_only:
        query = query.where(Persona.enabled.is_(True))
    return list(session.scalars(query))


def find_persona(session: Session, name_or_slug: str) -> Persona:
    """The persona with this slug or (case-insensitively) this name; PersonaError otherwise."""
    wanted = name_or_slug.strip()
    for persona in list_personas(session):
        if persona.slug == wanted or persona.name.casefold() == wanted.casefold():
            return persona
    known = ", ".join(p.name for p in list_personas(session)) or "none yet"
    raise PersonaError({"persona": f"No persona called {wanted!r}; choose from: {known}."})


def _hue_step(step: int) -> str:
    red, green, blue = colorsys.hls_to_rgb((step * GOLDEN_ANGLE % 360) / 360, 0.55, 0.65)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def next_color(used: set[str]) -> str:
    """The first palette colour nobody uses; past the palette, hues a golden angle apart."""
    candidates = chain(PALETTE, (_hue_step(step) for step in count()))
    return next(color for color in candidates if color not in used)


def default_color(session: Session) -> str:
    """The colour a new persona gets unless the user picks one: one no persona has yet, so
    router bars, cards and charts tell personas apart."""
    return next_color({color.lower() for color in session.scalars(select(Persona.color))})


def _slug_taken(session: Session, slug: str, except_id: int | None = None) -> bool:
    query = select(Persona.id).where(Persona.slug == slug)
    if except_id is not None:
        query = query.where(Persona.id != except_id)
    return session.scalar(query) is not None


def create_persona(session: Session, data: Mapping[str, Any], source: str = "user") -> Persona:
    clean = validate_persona(data)
    slug = slugify(str(data.get("slug") or "")) or slugify(clean["name"])
    if _slug_taken(session, slug):
        raise PersonaError({"name": f"A persona called {clean['name']!r} already exists; "
                                    f"pick another name or edit that one."})
    position = session.scalar(select(func.count(Persona.id))) or 0
    if clean["color"] is None:
        clean["color"] = default_color(session)
    persona = Persona(slug=slug, position=position, source=source, **clean)
    session.add(persona)
    session.flush()
    return persona


def update_persona(session: Session, persona: Persona, data: Mapping[str, Any]) -> Persona:
    clean = validate_persona(data, partial=True)
    if "name" in clean and slugify(clean["name"]) != persona.slug:
        slug = slugify(clean["name"])
        if _slug_taken(session, slug, except_id=persona.id):
            raise PersonaError({"name": f"A persona called {clean['name']!r} already exists."})
        persona.slug = slug
    for key, value in clean.items():
        if value is not None:  # a colour left empty keeps the persona's own
            setattr(persona, key, value)
    session.flush()
    return persona


def export_personas(session: Session) -> dict[str, Any]:
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
            "personas": [{key: getattr(p, key) for key in EXPORTED_FIELDS}
                         for p in list_personas(session)]}


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def import_personas(session: Session, payload: Any, on_conflict: str = "skip") -> ImportSummary:
    """Import an export file; every entry is validated before anything is written.

    A persona whose slug exists is updated or skipped (`on_conflict`), never duplicated.
    """
    if on_conflict not in ("skip", "update"):
        raise PersonaError({"on_conflict": "Choose 'skip' or 'update' for existing personas."})
    if isinstance(payload, dict) and payload.get("format") == EXPORT_FORMAT:
        entries = payload.get("personas")
    elif isinstance(payload, list):
        entries = payload
    else:
        raise PersonaError({"file": f"This is not an AI Council persona export (expected a JSON "
                                    f"object with \"format\": \"{EXPORT_FORMAT}\")."})
    if not isinstance(entries, list) or not entries:
        raise PersonaError({"file": "The file holds no personas."})
    errors: dict[str, str] = {}
    cleaned: list[tuple[str, dict[str, Any]]] = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            errors[f"persona {index}"] = "is not an object"
            continue
        try:
            clean = validate_persona(entry)
        except PersonaError as exc:
            errors[f"persona {index} ({str(entry.get('name', '?'))[:40]})"] = str(exc)
            continue
        cleaned.append((slugify(str(entry.get("slug") or "")) or slugify(clean["name"]), clean))
    if errors:
        raise PersonaError(errors)
    summary = ImportSummary()
    for slug, clean in cleaned:
        existing = session.scalar(select(Persona).where(Persona.slug == slug))
        if existing is None:
            create_persona(session, {**clean, "slug": slug}, source="import")
            summary.created.append(clean["name"])
        elif on_conflict == "update":
            update_persona(session, existing, clean)
            summary.updated.append(clean["name"])
        else:
            summary.skipped.append(clean["name"])
    return summary


def load_persona_files(directory: Path) -> list[dict[str, Any]]:
    """The shipped persona definitions, validated (a broken shipped file is a bug: it raises)."""
    definitions = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["routing_rules"] = data.pop("routing", None)
        definitions.append({**validate_persona(data), "slug": path.stem})
    return definitions


def seed_default_personas(session: Session, directory: Path) -> list[str]:
    """Add shipped personas the database has never had; edits and deletions are left alone.

    App processes starting together on a fresh database seed one after another: the later
    ones find the personas there."""
    hold_process_lock(session, SEED_LOCK)
    seeded = set(AppState.read(session, SEEDED_KEY, []))
    added = []
    for definition in load_persona_files(directory):
        slug = definition["slug"]
        if slug in seeded:
            continue
        if not _slug_taken(session, slug):
            create_persona(session, definition, source="builtin")
            added.append(slug)
        seeded.add(slug)
    AppState.write(session, SEEDED_KEY, sorted(seeded))
    session.flush()
    return added
