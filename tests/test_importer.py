"""Importing discovered personas (council/discovery/importer.py), on the output of a real
discovery run over a small export: personas with their cluster's centroid as the router's
prototype, the cluster's messages as their routing examples, and never a duplicate."""

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
from council.personas import PersonaError, list_personas
from tests.exports import write_sharegpt_export


@pytest.fixture(scope="module")
def discovered(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceEmbedder) -> Path:
    """The personas folder of a three-cluster discovery run (template prompts, no model)."""
    root = tmp_path_factory.mktemp("discovered")
    export = root / "export.json"
    write_sharegpt_export(export)
    run_discovery(DiscoveryOptions(input=export, data_dir=root / "personas", clusters=3,
                                   balance=0.0),  # the export's three topics, 21 messages each
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
            assert persona.mode_space is None, "topic clusters are compared on embeddings"
            centroid = np.asarray(cluster["centroid"], dtype=np.float32)
            assert np.allclose(router.prototype(persona), centroid / np.linalg.norm(centroid),
                               atol=1e-6), "the centroid is the router's prototype"

        # every message of a cluster is an example of its persona (the others' negatives
        # are drawn from them by the router, so none is stored)
        own, other = personas
        own_texts, other_texts = (cluster_texts(discovered, p.slug) for p in personas)
        assert len(own_texts) == len(other_texts) == 21
        for persona, texts in ((own, own_texts), (other, other_texts)):
            positives = examples(session, persona_id=persona.id, label=1)
            assert len(positives) == len(texts)
            vectors = np.asarray([e.embedding for e in positives], dtype=np.float32)
            assert np.min(np.sum(vectors * embedder.encode(texts), axis=1)) > 0.999
        assert len(examples(session)) == 2 * 21, "positives only"

        # the router learns them at once: the example gate favours each cluster's persona
        # on its messages, over the other imported one and over every shipped persona
        everyone = session.scalars(select(Persona)).all()
        for persona, texts in ((own, own_texts), (other, other_texts)):
            for vector in embedder.encode(texts):
                scores = router.example_scores(session, everyone, vector)
                assert max(scores, key=scores.__getitem__) == persona.id


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
        assert len(replaced) == len(first_ids) == 2 * 21, "replaced, not added to"
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
            assert len(examples(session, persona_id=persona.id)) == 5


def routes(app: Flask, texts: list[str]) -> list[list[tuple[int, float, str]]]:
    with session_scope(app) as session:
        router, personas = get_router(app), list_personas(session)
        return [[(d.persona.id, d.weight, d.reason) for d in router.route(session, personas,
                                                                          text).decisions]
                for text in texts]


def test_an_older_imports_negative_rows_are_ignored_then_replaced(
        make_app, settings, discovered: Path, chosen: list[dict[str, Any]]) -> None:
    """Imports before the example gate also stored each cluster message as a -1 for every
    other imported persona, and databases keep those rows: the router learns nothing from
    them (a restarted app routes exactly as before), and updating the import removes them."""
    app = make_app(settings)
    with session_scope(app) as session:
        import_discovered(session, get_router(app), discovered, chosen)
    texts = [cluster_texts(discovered, entry["slug"])[0] for entry in chosen]
    texts.append("Should I buy or rent a house in Amsterdam?")
    before = routes(app, texts)
    with session_scope(app) as session:
        own, other = (by_slug(session, entry["slug"]) for entry in chosen)
        for persona, rival in ((own, other), (other, own)):
            session.add_all(RoutingExample(persona_id=rival.id, source="cluster", label=-1,
                                           embedding=e.embedding)
                            for e in examples(session, persona_id=persona.id))
    restarted = make_app(settings)
    assert routes(restarted, texts) == before
    with session_scope(restarted) as session:
        import_discovered(session, get_router(restarted), discovered, chosen,
                          on_conflict="update")
    with session_scope(restarted) as session:
        assert not examples(session, label=-1)
        assert len(examples(session)) == 2 * 21


def test_resetting_the_router_keeps_what_the_import_taught(app: Flask, discovered: Path,
                                                            chosen: list[dict[str, Any]]) -> None:
    with session_scope(app) as session:
        import_discovered(session, get_router(app), discovered, chosen)
        session.add(RoutingExample(persona_id=by_slug(session, chosen[0]["slug"]).id,
                                   source="vote", label=1, embedding=[0.0] * 384))
    with session_scope(app) as session:
        cluster_ids = [e.id for e in examples(session)]
    assert app.test_client().post("/router/reset").status_code == 302
    with session_scope(app) as session:
        assert [e.id for e in examples(session)] == cluster_ids
        assert not session.scalars(select(RoutingExample).where(
            RoutingExample.source == "vote")).all()


def test_a_disabled_persona_leaves_the_example_gate(app: Flask, discovered: Path,
                                                    chosen: list[dict[str, Any]]) -> None:
    """Only who may speak is a class: a disabled (say merged) persona's cluster no longer
    draws its messages away from the others."""
    router = get_router(app)
    with session_scope(app) as session:
        import_discovered(session, router, discovered, chosen)
        by_slug(session, chosen[1]["slug"]).enabled = False
    text = cluster_texts(discovered, chosen[1]["slug"])[0]
    with session_scope(app) as session:
        personas = list_personas(session)
        router.route(session, personas, text)
        assert router.example_gate is not None
        assert set(router.example_gate.persona_ids) == {p.id for p in personas if p.enabled}


def test_the_import_fits_the_example_gate_so_the_next_question_does_not(
        app: Flask, discovered: Path, chosen: list[dict[str, Any]]) -> None:
    router = get_router(app)
    with session_scope(app) as session:
        import_discovered(session, router, discovered, chosen)
        fitted = router.example_gate
        assert fitted is not None and set(fitted.persona_ids) >= {
            by_slug(session, c["slug"]).id for c in chosen}
    with session_scope(app) as session:
        router.route(session, list_personas(session), "How do I merge two DataFrames?")
    assert router.example_gate is fitted, "the first route after the import refitted the gate"
