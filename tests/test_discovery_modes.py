"""Modes, not only topics: the labelled mode set is recovered by the mode rows and not by topic
embeddings, and the same export clustered with two seeds gives the same personas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from bench.modes_data import MODES, mode_messages
from council.discovery.categorize import embedding_text
from council.discovery.cluster import DiscoveryError, cluster_embeddings
from council.discovery.extract import extract_messages
from council.discovery.modes import DEFAULT_BALANCE, ModeSpace, cluster_modes, mode_rows
from council.discovery.parse import parse_export
from council.discovery.pipeline import DiscoveryOptions, run_discovery
from council.embeddings.sentence import SentenceEmbedder
from council.files import PersonaFiles
from tests.exports import IMAGE_GEN, PKUPPENS, REALAZTHAT, THINKING, write_sharegpt_export

MESSAGES = mode_messages(per_cell=10, seed=0)


@pytest.fixture(scope="module")
def labelled(embedder: SentenceEmbedder) -> np.ndarray:
    return embedder.encode([embedding_text(m.text) for m in MESSAGES])


def _mode_ari(labels: np.ndarray) -> float:
    return float(adjusted_rand_score([m.mode for m in MESSAGES], labels))


def test_modes_are_recovered_by_the_mode_rows_not_by_topics(labelled: np.ndarray) -> None:
    """300 messages, 5 modes x 6 topics: topic embeddings find the topics (ARI about 0 against
    the modes); the default balance finds the modes (bench/modes.py prints the figures)."""
    topics = cluster_embeddings(labelled, clusters=len(MODES))
    modes = cluster_modes(labelled, DEFAULT_BALANCE, clusters=len(MODES))
    chosen = cluster_modes(labelled, DEFAULT_BALANCE)  # k by silhouette, as discovery runs
    figures = (f"ARI vs modes: topic embeddings {_mode_ari(topics.labels):.3f}, mode rows "
               f"{_mode_ari(modes.clustering.labels):.3f}, chosen k={chosen.clustering.k} "
               f"{_mode_ari(chosen.clustering.labels):.3f}")
    assert _mode_ari(topics.labels) < 0.05, figures
    assert _mode_ari(modes.clustering.labels) > 0.7, figures
    assert chosen.clustering.k == len(MODES) and _mode_ari(chosen.clustering.labels) > 0.7, figures


def test_balance_goes_from_topics_to_modes(labelled: np.ndarray) -> None:
    topic_labels = [m.topic for m in MESSAGES]
    at = {b: cluster_modes(labelled, b, clusters=len(MODES)).clustering.labels
          for b in (0.0, 1.0)}
    assert adjusted_rand_score(topic_labels, at[0.0]) > 0.7
    assert _mode_ari(at[0.0]) < 0.05 and _mode_ari(at[1.0]) > 0.7
    assert np.allclose(mode_rows(labelled, 0.0), labelled / np.linalg.norm(
        labelled, axis=1, keepdims=True), atol=1e-6)


def test_centroids_stay_in_topic_space(labelled: np.ndarray) -> None:
    """The router compares a question's MiniLM embedding with each persona's centroid."""
    result = cluster_modes(labelled, DEFAULT_BALANCE, clusters=len(MODES))
    assert result.rows.shape == (len(MESSAGES), 2 * labelled.shape[1])
    assert result.clustering.centroids.shape == (len(MODES), labelled.shape[1])
    members = labelled[result.clustering.labels == 0]
    mean = members.mean(axis=0)
    assert np.allclose(result.clustering.centroids[0], mean / np.linalg.norm(mean), atol=1e-5)


def test_the_recorded_mode_space_takes_a_new_messages_row_as_discovery_did(
        labelled: np.ndarray) -> None:
    """The import stores the space (JSON) and the router takes a question's row in it: the
    rows it takes again are the rows k-means clustered, and the nearest cluster is the one the
    message joined."""
    result = cluster_modes(labelled, DEFAULT_BALANCE, clusters=len(MODES))
    space = ModeSpace.from_record(json.loads(json.dumps(result.space.record())))
    assert space.balance == DEFAULT_BALANCE
    again = space.rows(labelled)
    assert np.allclose(again, result.rows, atol=1e-4)
    means = np.stack([again[result.clustering.labels == c].mean(axis=0)
                      for c in range(len(MODES))])
    nearest = ((again[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert (nearest == result.clustering.labels).mean() > 0.95
    assert cluster_modes(labelled, 0.0, clusters=len(MODES)).space is None


@pytest.mark.parametrize("balance", [-0.1, 1.5])
def test_balance_out_of_range_is_refused(labelled: np.ndarray, balance: float) -> None:
    with pytest.raises(DiscoveryError, match="between 0 and 1"):
        mode_rows(labelled, balance)


def _export_messages(path: Path) -> list[str]:
    return [m.embedding_text for m in extract_messages(parse_export(path)).kept]


def test_exports_without_messages_to_cluster() -> None:
    """Two fixture exports hold no user message discovery keeps (images, reasoning only), so
    the seed test below has nothing to compare on them."""
    assert _export_messages(IMAGE_GEN) == [] and _export_messages(THINKING) == []


@pytest.mark.parametrize("export", ["pkuppens", "realazthat", "sharegpt"])
@pytest.mark.parametrize("balance", [DEFAULT_BALANCE, 0.0, 1.0])
def test_two_seeds_give_the_same_personas(export: str, balance: float, tmp_path: Path,
                                          embedder: SentenceEmbedder) -> None:
    paths = {"pkuppens": PKUPPENS, "realazthat": REALAZTHAT, "sharegpt": tmp_path / "s.json"}
    if export == "sharegpt":
        write_sharegpt_export(paths["sharegpt"])
    vectors = embedder.encode(_export_messages(paths[export]))
    first, second = (cluster_modes(vectors, balance, seed=seed).clustering for seed in (0, 7))
    agreement = adjusted_rand_score(first.labels, second.labels)
    assert first.k == second.k and agreement >= 0.8, f"k {first.k}/{second.k}, ARI {agreement:.3f}"


def test_the_pipeline_records_its_balance_and_ignores_the_seed(
        tmp_path: Path, embedder: SentenceEmbedder) -> None:
    """Discovery run twice on one export with seeds 0 and 7 writes the same personas, and its
    outputs say which balance they were clustered with."""
    export = tmp_path / "export.json"
    write_sharegpt_export(export)
    members = []
    for seed in (0, 7):
        data_dir = tmp_path / f"seed-{seed}"
        result = run_discovery(DiscoveryOptions(export, data_dir, seed=seed), embedder, None,
                               "unused")
        files = PersonaFiles(data_dir)
        analysis = json.loads(files.cluster_analysis.read_text(encoding="utf-8"))
        assert result.balance == analysis["balance"] == DEFAULT_BALANCE
        assert json.loads(files.cluster_map.read_text(encoding="utf-8"))["balance"] == \
            DEFAULT_BALANCE
        members.append(sorted(sorted(row["id"] for row in files.cluster_rows(c["slug"]))
                              for c in analysis["clusters"]))
    assert members[0] == members[1]
