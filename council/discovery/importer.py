"""Import discovered personas into the council (the CLI and the browser share this).

Each chosen cluster becomes a persona (or updates / skips the existing one with that slug,
never a duplicate), keeps its centroid as the router's prototype, and gives its messages to the
router as labelled routing data: positive for its persona, negative for the other imported ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import Persona, RoutingExample
from ..personas import ImportSummary, PersonaError, import_personas
from ..embeddings.cache import embedder_cache
from ..router import Router

MAX_EXAMPLES_PER_PERSONA = 200


def load_discovery(data_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The generated prompts and the cluster analysis by slug, or a clear error."""
    prompts_path = data_dir / "prompts" / "generated_prompts.json"
    analysis_path = data_dir / "clusters" / "cluster_analysis.json"
    for path in (prompts_path, analysis_path):
        if not path.is_file():
            raise PersonaError({"file": f"{path} is missing: run `python scripts/"
                                        f"extract_personas.py` (or the Discover page) first."})
    prompts = json.loads(prompts_path.read_text(encoding="utf-8"))["personas"]
    analysis = json.loads(analysis_path.read_text(encoding="utf-8"))["clusters"]
    return prompts, {cluster["slug"]: cluster for cluster in analysis}


def import_discovered(session: Session, router: Router, data_dir: Path,
                      chosen: list[dict[str, Any]], on_conflict: str = "skip") -> ImportSummary:
    """Import `chosen` prompt entries (names and prompts possibly edited in review)."""
    _, analysis = load_discovery(data_dir)
    entries = [{"slug": entry["slug"], "name": entry["name"],
                "description": entry.get("description", ""),
                "system_prompt": entry["system_prompt"],
                "example_messages": analysis.get(entry["slug"], {}).get("representatives", [])}
               for entry in chosen]
    summary = import_personas(session, entries, on_conflict)
    imported = set(summary.created) | set(summary.updated)
    personas = {p.slug: p for p in session.scalars(select(Persona).where(
        Persona.slug.in_([e["slug"] for e in entries])))}
    landed = [personas[e["slug"]] for e in entries
              if e["name"] in imported and e["slug"] in personas]
    cache = embedder_cache(data_dir / "cache" / "embeddings", router.extractor.embedder)
    for persona in landed:
        persona.centroid = analysis[persona.slug]["centroid"]
        session.execute(delete(RoutingExample).where(RoutingExample.persona_id == persona.id,
                                                     RoutingExample.source == "cluster"))
    for persona in landed:
        texts = _cluster_texts(data_dir, persona.slug)
        if not texts:
            continue
        vectors = cache.embed(texts, router.extractor.embedder)
        for vector in vectors:
            for other in landed:
                session.add(RoutingExample(persona_id=other.id, source="cluster",
                                           label=1 if other.id == persona.id else -1,
                                           embedding=vector.tolist()))
    session.flush()
    router.load(session)
    return summary


def _cluster_texts(data_dir: Path, slug: str) -> list[str]:
    path = data_dir / "clusters" / f"persona_{slug}.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [row["embedding_text"] for row in rows[:MAX_EXAMPLES_PER_PERSONA]]
