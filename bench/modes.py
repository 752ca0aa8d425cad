"""Which representation lets k-means find modes (ways of working) rather than topics.

    .venv/bin/python -m bench.modes [--per-cell 10] [--sets 5]

1. The labelled set (bench/modes_data.py: 5 modes crossed with 6 topics, `--per-cell` messages
   each; `--sets` sets, generated with seeds 0, 1, ...), embedded as discovery embeds (categorize.embedding_text, the packaged MiniLM). For
   each representation: adjusted Rand of k-means' labels against the mode labels and against
   the topic labels, with k forced to 5 and with k chosen by silhouette (3-6) as discovery
   does; the mean over the sets and the lowest. Representations: topic embeddings alone;
   `council.discovery.modes.mode_rows` at several balances; and the alternatives it was chosen
   over, at balance 0.8: the style half with the rule-based traits (`council.features.traits`)
   as one-hot rows taking 15% or 30% of it, and the style half taken as the residual of the
   top 5 principal axes instead of the topic means.
2. Seed stability: on every fixture export with messages to cluster and the tests' ShareGPT
   export, adjusted Rand between the labels of seeds 0 and 7, with discovery's clustering
   (deterministic principal-axis starts) and with seeded k-means++ (3 restarts, what
   discovery used before) at balance 0 and at the default.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from bench.modes_data import MODES, mode_messages
from council.discovery.categorize import embedding_text
from council.discovery.cluster import cluster_embeddings
from council.discovery.extract import extract_messages
from council.discovery.modes import DEFAULT_BALANCE, mode_rows, style_rows
from council.discovery.parse import parse_export
from council.embeddings import unit_rows
from council.embeddings.sentence import SentenceEmbedder
from council.features.traits import (
    LENGTHS,
    QUESTION_TYPES,
    REASONING_MARKERS,
    TONES,
    MessageTraits,
    categorize,
)
from tests.exports import FIXTURES, write_sharegpt_export

BALANCES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def trait_rows(traits: list[MessageTraits]) -> np.ndarray:
    """One-hot tone and length, many-hot question types and reasoning markers, code or not."""
    def hot(vocabulary: tuple[str, ...], values: list[str]) -> list[float]:
        return [float(v in values) for v in vocabulary] + [float(not values)]

    return unit_rows(np.asarray([
        hot(TONES, [t.tone]) + hot(QUESTION_TYPES, t.question_types)
        + hot(REASONING_MARKERS, t.reasoning_markers) + hot(LENGTHS, [t.length])
        + [float(t.has_code)] for t in traits], dtype=np.float32))


def pca_residual(x: np.ndarray, axes: int = 5) -> np.ndarray:
    centred = x - x.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:axes]
    return unit_rows(centred - centred @ top.T @ top)


def halves(x: np.ndarray, style: np.ndarray, balance: float) -> np.ndarray:
    return unit_rows(np.hstack([np.sqrt(1 - balance) * x, np.sqrt(balance) * style]))


def representations(x: np.ndarray, traits: np.ndarray) -> dict[str, np.ndarray]:
    """Topic embeddings alone, the mode rows at each balance, and the alternatives."""
    style = style_rows(x)
    built = {"topic embeddings alone": x}
    built.update({f"mode rows, balance {b:g}": mode_rows(x, b) for b in BALANCES})
    for share in (0.15, 0.3):
        built[f"  alt: style + {share:.0%} traits, 0.8"] = halves(x, unit_rows(np.hstack(
            [np.sqrt(1 - share) * style, np.sqrt(share) * traits])), 0.8)
    built["  alt: style = PCA residual, 0.8"] = halves(x, pca_residual(x), 0.8)
    return built


def labelled_figures(per_cell: int, sets: int, embedder: SentenceEmbedder) -> None:
    """Adjusted Rand per representation, the mean (and the lowest) over `sets` generated sets."""
    figures: dict[str, list[tuple[float, float, float]]] = {}
    for seed in range(sets):
        messages = mode_messages(per_cell, seed)
        modes, topics = [m.mode for m in messages], [m.topic for m in messages]
        x = unit_rows(embedder.encode([embedding_text(m.text) for m in messages]))
        traits = trait_rows([categorize(m.text) for m in messages])
        for name, rows in representations(x, traits).items():
            forced = cluster_embeddings(rows, clusters=len(MODES)).labels
            chosen = cluster_embeddings(rows).labels
            figures.setdefault(name, []).append((
                adjusted_rand_score(modes, forced), adjusted_rand_score(topics, forced),
                adjusted_rand_score(modes, chosen)))
    print(f"\n[labelled] {sets} sets of {len(messages)} messages ({len(MODES)} modes x "
          f"{len(messages) // per_cell // len(MODES)} topics); adjusted Rand, mean (lowest)")
    print(f"{'representation':36} {'k=5 vs modes':>14} {'vs topics':>10} {'chosen k vs modes':>18}")
    for name, rows in figures.items():
        table = np.asarray(rows)
        means, lows = table.mean(axis=0), table.min(axis=0)
        print(f"{name:36} {means[0]:7.3f} ({lows[0]:.2f}) {means[1]:10.3f} "
              f"{means[2]:11.3f} ({lows[2]:.2f})")


def kmeans_plus_plus(rows: np.ndarray, seed: int) -> np.ndarray:
    """The clustering discovery used before: seeded k-means++, 3 restarts, k by silhouette."""
    from sklearn.metrics import silhouette_score

    best, best_score = np.zeros(len(rows), dtype=int), -np.inf
    for k in range(3, min(6, len(rows) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(rows)
        if len(set(labels)) > 1:
            score = silhouette_score(rows, labels, metric="cosine")
            if score > best_score:
                best, best_score = labels, score
    return best


def stability_figures(embedder: SentenceEmbedder) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sharegpt = Path(tmp) / "sharegpt.json"
        write_sharegpt_export(sharegpt)
        exports = [*sorted(FIXTURES.glob("*.json")), sharegpt]
        print("\n[seeds] adjusted Rand between seeds 0 and 7 (k chosen by silhouette)")
        print(f"{'export':48} {'msgs':>5} {'balance':>8} {'discovery':>10} {'k-means++':>10}")
        for path in exports:
            texts = [m.embedding_text for m in extract_messages(parse_export(path)).kept]
            if len(texts) < 5:
                print(f"{path.name:48} {len(texts):5}  (too few messages to cluster)")
                continue
            x = unit_rows(embedder.encode(texts))
            for balance in (0.0, DEFAULT_BALANCE):
                rows = mode_rows(x, balance)
                ours = [cluster_embeddings(rows, seed=s).labels for s in (0, 7)]
                seeded = [kmeans_plus_plus(rows, s) for s in (0, 7)]
                print(f"{path.name:48} {len(texts):5} {balance:8g} "
                      f"{adjusted_rand_score(*ours):10.3f} {adjusted_rand_score(*seeded):10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=10)
    parser.add_argument("--sets", type=int, default=5, help="labelled sets (seeds 0, 1, ...)")
    args = parser.parse_args()
    embedder = SentenceEmbedder()
    labelled_figures(args.per_cell, args.sets, embedder)
    stability_figures(embedder)


if __name__ == "__main__":
    main()
