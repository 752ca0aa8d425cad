"""Import discovered personas into the council (the CLI and the browser share this).

Each chosen cluster becomes a persona (or updates / skips the existing one with that slug,
never a duplicate), keeps its centroid as the router's prototype, and gives its messages to the
router as its persona's examples. The router's example gate learns from every persona's
examples at once, so each cluster's messages also teach every other persona, shipped ones
included, what is not theirs (council/router/examples.py).
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..embeddings.cache import embedder_cache
from ..files import MissingDiscovery, PersonaFiles
from ..models import Persona, RoutingExample
from ..personas import ImportSummary, PersonaError, import_personas, list_personas
from ..router import Router

MAX_EXAMPLES_PER_PERSONA = 200
# council.personas refuses example messages longer than this; a representative may be.
EXAMPLE_CHARS = 2_000


def load_discovery(data_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The generated prompts and the clusters by slug, each with the mode space it was found
    in (None: topic embeddings), or a PersonaError saying what to run."""
    try:
        prompts, analysis = PersonaFiles(data_dir).read_discovery()
    except MissingDiscovery as exc:
        raise PersonaError({"file": str(exc)}) from None
    space = analysis.get("mode_space")
    return prompts, {cluster["slug"]: {**cluster, "mode_space": space}
                     for cluster in analysis["clusters"]}


def import_discovered(session: Session, router: Router, data_dir: Path,
                      chosen: list[dict[str, Any]], on_conflict: str = "skip") -> ImportSummary:
    """Import `chosen` prompt entries (names and prompts possibly edited in review)."""
    _, analysis = load_discovery(data_dir)
    entries = [{"slug": entry["slug"], "name": entry["name"],
                "description": entry.get("description", ""),
                "system_prompt": entry["system_prompt"],
                "example_messages": [_shortened(text) for text in analysis.get(
                    entry["slug"], {}).get("representatives", [])]}
               for entry in chosen]
    summary = import_personas(session, entries, on_conflict)
    imported = set(summary.created) | set(summary.updated)
    personas = {p.slug: p for p in session.scalars(select(Persona).where(
        Persona.slug.in_([e["slug"] for e in entries])))}
    landed = [personas[e["slug"]] for e in entries
              if e["name"] in imported and e["slug"] in personas]
    files = PersonaFiles(data_dir)
    cache = embedder_cache(files.embedding_caches, router.extractor.embedder)
    for persona in landed:
        persona.centroid = analysis[persona.slug]["centroid"]
        persona.mode_space = analysis[persona.slug]["mode_space"]
        session.execute(delete(RoutingExample).where(RoutingExample.persona_id == persona.id,
                                                     RoutingExample.source == "cluster"))
        texts = [row["embedding_text"] for row in
                 islice(files.cluster_rows(persona.slug), MAX_EXAMPLES_PER_PERSONA)]
        if not texts:
            continue
        for vector in cache.embed(texts, router.extractor.embedder):
            session.add(RoutingExample(persona_id=persona.id, source="cluster", label=1,
                                       embedding=vector.tolist()))
    session.flush()
    router.load(session)
    router.fit_examples(session, [p for p in list_personas(session) if p.enabled])
    return summary


def _shortened(text: str) -> str:
    """A representative message as an example message: cut at a word with "…" if too long."""
    text = text.strip()
    if len(text) <= EXAMPLE_CHARS:
        return text
    return text[:EXAMPLE_CHARS - 1].rsplit(maxsplit=1)[0] + "…"
