"""Importing discovered personas (council/discovery/importer.py), on the output of a real
discovery run over a small export: personas with their cluster's centroid as the router's
prototype, the cluster's messages as labelled routing examples, and never a duplicate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from council.db import session_scope
from council.discovery import importer
from council.discovery.importer import import_discovered, load_discovery
from council.discovery.pipeline import DiscoveryOptions, run_discovery
from council.embeddings.sentence import SentenceEmbedder
from council.extensions import get_router
from council.files import PersonaFiles
from council.models import Persona, RoutingExample
from council.personas import PersonaError
from tests.exports import write_sharegpt_export


@pytest.fixture(scope="module")
def discovered(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceEmbedder) -> Path:
    """The personas folder of a three-cluster discovery run (template prompts, no model)."""
    root = tmp_path_factory.mktemp("discovered")
    export = root / "export.json"
    write_sharegpt_export(export)
    run_discovery(DiscoveryOptions(input=export, data_dir=root / "personas", clusters=3),
                  embedder, None, "unused")
    return root / "personas"


@pytest.fixture
def chosen(discovered: Path) -> list[dict[str, Any]]:
    """Two of the three clusters, as the review page sends them."""
    prompts, _ = load_discovery(discovered)
    return prompts[:2]


def cluster_texts(data_dir: Path, slug: str) -> list[str]:
    """What the cluster's messages are embedded as."""
    return [row["embedding_text"] for row in PersonaFiles(data_dir).cluster_rows(slug)]


def examples(session: Session, **where: Any) -> list[RoutingExample]:
    query = select(RoutingExample).where(RoutingExample.source == "cluster")
    for name, value in where.items():
        query = query.where(getattr(RoutingExample, name) == value)
    return list(session.scalars(query.order_by(RoutingExample.id)))


def by_slug(session: Session, slug: str) -> Persona:
    return session.scalars(select(Persona).where(Persona.slug == slug)).one()


def test_missing_discovery_output_says_what_to_run(tmp_path: Path, discovered: Path,
                                                   app: Flask) -> None:
    with pytest.raises(PersonaError) as nothing:
        load_discovery(tmp_path)
    message = nothing.value.errors["file"]
    assert str(PersonaFiles(tmp_path).generated_prompts) in message
    assert "council discover" in message and "Discover page" in message

    partial = tmp_path / "partial"
    shutil.copytree(discovered, partial)
    PersonaFiles(partial).cluster_analysis.unlink()
    with pytest.raises(PersonaError, match="cluster_analysis.json is missing"):
        load_discovery(partial)
    with session_scope(app) as session, pytest.raises(PersonaError, match="is missing"):
        import_discovered(session, get_router(app), partial, [])
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Persona.id))
                              .where(Persona.source == "import")) == 0


def test_the_run_is_read_back_as_prompts_and_clusters_by_slug(discovered: Path) -> None:
    prompts, analysis = load_discovery(discovered)
    assert len(prompts) == 3 and {p["slug"] for p in prompts} == set(analysis)
    assert all(p["source"] == "template" for p in prompts)
    assert sorted(c["size"] for c in analysis.values()) == [21, 21, 21]


def test_import_makes_personas_routed_by_their_clusters(app: Flask, discovered: Path,
                                                        chosen: list[dict[str, Any]],
                                                        embedder: SentenceEmbedder) -> None:
    _, analysis = load_discovery(discovered)
    left_out = next(slug for slug in analysis if slug not in {c["slug"] for c in chosen})
    router = get_router(app)
    with session_scope(app) as session:
        summary = import_discovered(session, router, discovered, chosen)
    assert summary.created == [c["name"] for c in chosen]
    assert not summary.updated and not summary.skipped

    with session_scope(app) as session:
        personas = [by_slug(session, c["slug"]) for c in chosen]
        assert not session.scalars(select(Persona).where(Persona.slug == left_out)).all()
        for persona, entry in zip(personas, chosen):
            cluster = analysis[persona.slug]
            assert (persona.name, persona.source) == (entry["name"], "import")
            assert persona.system_prompt == entry["system_prompt"]
            assert persona.example_messages == cluster["representatives"]
            assert persona.centroid == cluster["centroid"]
            centroid = np.asarray(cluster["centroid"], dtype=np.float32)
            assert np.allclose(router.prototype(persona), centroid / np.linalg.norm(centroid),
                               atol=1e-6), "the centroid is the router's prototype"

        # every message of a cluster: +1 for its persona, -1 for the other imported one
        own, other = personas
        own_texts, other_texts = (cluster_texts(discovered, p.slug) for p in personas)
        assert len(own_texts) == len(other_texts) == 21
        for persona, texts, rival in ((own, own_texts, other), (other, other_texts, own)):
            positives = examples(session, persona_id=persona.id, label=1)
            negatives = examples(session, persona_id=rival.id, label=-1)
            assert len(positives) == len(negatives) == len(texts)
            vectors = np.asarray([e.embedding for e in positives], dtype=np.float32)
            assert np.min(np.sum(vectors * embedder.encode(texts), axis=1)) > 0.999
            assert [e.embedding for e in negatives] == [e.embedding for e in positives]
        assert len(examples(session)) == 2 * 2 * 21

        # the router learned them at once: each gate favours its own cluster's messages
        own_vectors = embedder.encode(own_texts)
        assert set(router.gate.classifiers) >= {own.id, other.id}
        assert np.mean([router.gate.score(own.id, v) for v in own_vectors]) > 0
        assert np.mean([router.gate.score(other.id, v) for v in own_vectors]) < 0


def test_a_name_edited_in_review_keeps_the_clusters_slug(app: Flask, discovered: Path,
                                                         chosen: list[dict[str, Any]]) -> None:
    edited = [{**chosen[0], "name": "My Own Name"}]
    with session_scope(app) as session:
        import_discovered(session, get_router(app), discovered, edited)
    with session_scope(app) as session:
        persona = by_slug(session, chosen[0]["slug"])
        assert persona.name == "My Own Name"
        assert len(examples(session, persona_id=persona.id, label=1)) == 21


def test_skipping_an_existing_persona_adds_nothing(app: Flask, discovered: Path,
                                                   chosen: list[dict[str, Any]]) -> None:
    router = get_router(app)
    with session_scope(app) as session:
        import_discovered(session, router, discovered, chosen)
    with session_scope(app) as session:
        personas_before = session.scalar(select(func.count(Persona.id)))
        ids_before = [e.id for e in examples(session)]
        again = [{**entry, "system_prompt": "You were edited."} for entry in chosen]
        summary = import_discovered(session, router, discovered, again, on_conflict="skip")
    assert summary.skipped == [c["name"] for c in chosen]
    assert not summary.created and not summary.updated
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Persona.id))) == personas_before
        assert [e.id for e in examples(session)] == ids_before
        assert by_slug(session, chosen[0]["slug"]).system_prompt == chosen[0]["system_prompt"]


def test_updating_replaces_the_cluster_examples_and_keeps_the_votes(
        app: Flask, discovered: Path, chosen: list[dict[str, Any]]) -> None:
    router = get_router(app)
    with session_scope(app) as session:
        import_discovered(session, router, discovered, chosen)
    with session_scope(app) as session:
        persona = by_slug(session, chosen[0]["slug"])
        first_ids = {e.id for e in examples(session)}
        session.add(RoutingExample(persona_id=persona.id, source="vote", label=1,
                                   embedding=[0.0] * 384))
    with session_scope(app) as session:
        again = [{**entry, "system_prompt": "You were edited."} for entry in chosen]
        summary = import_discovered(session, router, discovered, again, on_conflict="update")
    assert summary.updated == [c["name"] for c in chosen] and not summary.created
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Persona.id))
                              .where(Persona.source == "import")) == 2
        assert by_slug(session, chosen[0]["slug"]).system_prompt == "You were edited."
        replaced = examples(session)
        assert len(replaced) == len(first_ids) == 2 * 2 * 21, "replaced, not added to"
        assert not first_ids & {e.id for e in replaced}
        votes = session.scalars(select(RoutingExample).where(
            RoutingExample.source == "vote")).all()
        assert [(v.persona_id, v.label) for v in votes] == [(persona.id, 1)]


def test_examples_per_persona_are_capped(app: Flask, discovered: Path,
                                         chosen: list[dict[str, Any]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "MAX_EXAMPLES_PER_PERSONA", 5)
    with session_scope(app) as session:
        import_discovered(session, get_router(app), discovered, chosen)
    with session_scope(app) as session:
        for entry in chosen:
            persona = by_slug(session, entry["slug"])
            assert len(examples(session, persona_id=persona.id, label=1)) == 5
            assert len(examples(session, persona_id=persona.id, label=-1)) == 5
