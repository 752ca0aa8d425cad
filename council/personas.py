"""Persona rules in one place: validation, create/update/delete, JSON export/import, seeding.

The web forms, the JSON API and the import file all go through `validate_persona`, so a persona
that is refused in one place is refused everywhere with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import AppState, Persona
from .router.rules import RuleError, validate_rules
from .slugs import slugify

EXPORT_FORMAT = "ai-council-personas"
EXPORT_VERSION = 1
EXPORTED_FIELDS = ("slug", "name", "description", "system_prompt", "model", "temperature",
                   "top_p", "enabled", "color", "example_messages", "routing_rules")
PALETTE = ("#4f8cff", "#ef5b5b", "#b061ff", "#2fbf71", "#f5a623", "#17becf", "#e377c2",
           "#8c8c8c")
SEEDED_KEY = "seeded_personas"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class PersonaError(ValueError):
    """Persona input that cannot be saved; `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "off", "no", ""):
        return False
    return None


def _bounded_float(raw: Any, low: float, high: float, label: str,
                   errors: dict[str, str], key: str) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        errors[key] = f"{label} must be a number between {low:g} and {high:g}."
        return None
    if not low <= value <= high or value != value:
        errors[key] = f"{label} must be between {low:g} and {high:g}."
        return None
    return value


def validate_persona(data: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """Clean persona fields or raise `PersonaError` naming every bad field.

    With `partial`, absent fields are left out (an edit of some fields); otherwise name and
    system prompt are required and the rest get defaults.
    """
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}

    def present(key: str) -> bool:
        return key in data and data[key] is not None

    if present("name") or not partial:
        name = str(data.get("name") or "").strip()
        if not name:
            errors["name"] = "Give the persona a name."
        elif len(name) > 80:
            errors["name"] = "Keep the name to 80 characters or fewer."
        elif not slugify(name):
            errors["name"] = "The name needs at least one letter or digit."
        clean["name"] = name
    if present("system_prompt") or not partial:
        prompt = str(data.get("system_prompt") or "").strip()
        if not prompt:
            errors["system_prompt"] = "Write a system prompt: it is what makes this persona differ."
        elif len(prompt) > 20_000:
            errors["system_prompt"] = "Keep the system prompt under 20,000 characters."
        clean["system_prompt"] = prompt
    if present("description") or not partial:
        description = str(data.get("description") or "").strip()
        if len(description) > 2_000:
            errors["description"] = "Keep the description under 2,000 characters."
        clean["description"] = description
    if present("model") or not partial:
        model = str(data.get("model") or "").strip()
        if model and not MODEL_NAME.match(model):
            errors["model"] = ("A model name looks like qwen2.5:3b (letters, digits and . _ : / "
                               "@ + -); leave it empty to use the default worker model.")
        clean["model"] = model
    if present("temperature") or not partial:
        clean["temperature"] = _bounded_float(data.get("temperature", 0.7), 0.0, 2.0,
                                              "Temperature", errors, "temperature")
    if present("top_p") or not partial:
        clean["top_p"] = _bounded_float(data.get("top_p", 0.9), 0.01, 1.0, "Top-p", errors,
                                        "top_p")
    if present("enabled") or not partial:
        enabled = _as_bool(data.get("enabled", True))
        if enabled is None:
            errors["enabled"] = "Enabled must be true or false."
        clean["enabled"] = enabled
    if present("color") or not partial:
        color = str(data.get("color") or PALETTE[0]).strip()
        if not COLOR.match(color):
            errors["color"] = "Colour must look like #4f8cff."
        clean["color"] = color.lower()
    if present("example_messages") or not partial:
        examples = data.get("example_messages") or []
        if isinstance(examples, str):
            examples = examples.splitlines()
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            errors["example_messages"] = "Example messages must be a list of texts."
            examples = []
        examples = [e.strip() for e in examples if e.strip()]
        if len(examples) > 50 or any(len(e) > 2_000 for e in examples):
            errors["example_messages"] = "Keep to 50 example messages of under 2,000 characters."
        clean["example_messages"] = examples
    if present("routing_rules") or not partial:
        rules = data.get("routing_rules")
        try:
            if isinstance(rules, str):
                rules = yaml.safe_load(rules) if rules.strip() else {}
            clean["routing_rules"] = validate_rules(rules)
        except yaml.YAMLError as exc:
            errors["routing_rules"] = f"Routing rules are not valid YAML: {exc}"
        except RuleError as exc:
            errors["routing_rules"] = f"Routing rules: {exc}."
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
    count = session.scalar(select(func.count(Persona.id))) or 0
    if "color" not in data or not data.get("color"):
        clean["color"] = PALETTE[count % len(PALETTE)]
    persona = Persona(slug=slug, position=count, source=source, **clean)
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
    """Add shipped personas the database has never had; edits and deletions are left alone."""
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
