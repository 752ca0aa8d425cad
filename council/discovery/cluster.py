"""Grouping message embeddings into personas with KMeans, choosing k by cosine silhouette.

Embeddings are unit rows, so Euclidean KMeans on them follows cosine similarity. KMeans starts
from principal-axis splits, not random seeds, so an export always gives the same clusters. k
is picked by silhouette, but never for a split where one cluster swallows most messages: a
persona that is "everything" is useless, so such a k is only taken when no other k avoids it
(and the result says so in `warning`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from ..embeddings import unit_rows


class DiscoveryError(ValueError):
    """Persona discovery cannot go on; the message says what to change."""


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # cluster index per message
    centroids: np.ndarray  # k x dim, L2-normalised
    k: int
    silhouette: float  # cosine silhouette of the chosen k (sampled; nan when undefined)
    scores: dict[int, float]  # silhouette per k tried (empty when k was forced)
    warning: str | None = None  # set when the giant-cluster guard could not be honoured


def _principal_direction(centred: np.ndarray, iterations: int = 30) -> np.ndarray:
    """The group's first principal axis by power iteration, started from its farthest row."""
    direction = centred[int(np.argmax(np.einsum("ij,ij->i", centred, centred)))]
    for _ in range(iterations):
        direction = centred.T @ (centred @ direction)
        direction /= max(float(np.linalg.norm(direction)), 1e-12)
    return direction


def principal_splits(x: np.ndarray, k: int) -> list[np.ndarray]:
    """Starting centres for 1, 2, ..., k clusters, with no randomness: split the group with the
    largest squared error in two at its mean along its principal axis (PCA-Part, Su & Dy
    2007). Seeded k-means++ restarts land in different partitions of a real export's weakly
    separated messages (bench/modes.py); these starts make a clustering reproducible."""
    groups = [np.arange(len(x))]
    starts = [x.mean(axis=0, keepdims=True)]
    while len(groups) < k:
        errors = [float(((x[g] - x[g].mean(axis=0)) ** 2).sum()) for g in groups]
        group = groups.pop(int(np.argmax(errors)))
        centred = x[group] - x[group].mean(axis=0)
        side = centred @ _principal_direction(centred) > 0
        groups += [group[side], group[~side]]
        starts.append(np.stack([x[g].mean(axis=0) for g in groups]))
    return starts


def _fit(x: np.ndarray, start: np.ndarray) -> np.ndarray:
    return KMeans(n_clusters=len(start), init=start, n_init=1).fit_predict(x)


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int, sample_size: int) -> float:
    """Sampled cosine silhouette; nan when it is undefined (fewer than two distinct labels)."""
    n = len(x)
    size = min(sample_size, n)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= n:
        return float("nan")
    try:
        return float(silhouette_score(x, labels, metric="cosine",
                                      sample_size=size if size < n else None, random_state=seed))
    except ValueError:  # a sample that happened to hold a single cluster
        return float("nan")


def _largest_share(labels: np.ndarray) -> float:
    return float(np.bincount(labels).max() / len(labels))


def _centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The normalised mean of each cluster's rows (the cosine centre)."""
    return unit_rows(np.stack([x[labels == c].mean(axis=0) if np.any(labels == c)
                               else np.zeros(x.shape[1], dtype=np.float32) for c in range(k)]))


def _result(x: np.ndarray, labels: np.ndarray, k: int, silhouette: float,
            scores: dict[int, float], warning: str | None = None) -> Clustering:
    return Clustering(labels=labels.astype(np.int64), centroids=_centroids(x, labels, k), k=k,
                      silhouette=silhouette, scores=scores, warning=warning)


def centred_on(clustering: Clustering, embeddings: np.ndarray) -> Clustering:
    """The same clusters with centroids taken in another space (e.g. the topic embeddings
    when k-means ran on the mode rows), so they compare with a message's embedding."""
    x = unit_rows(np.asarray(embeddings, dtype=np.float32))
    return replace(clustering, centroids=_centroids(x, clustering.labels, clustering.k))


def _distinct(x: np.ndarray) -> int:
    return len(np.unique(np.round(x, 6), axis=0))


def cluster_embeddings(embeddings: np.ndarray, clusters: int | None = None,
                       k_range: tuple[int, int] = (3, 6), seed: int = 0,
                       sample_size: int = 2000, max_share: float = 0.6) -> Clustering:
    """Cluster unit embeddings; `clusters` forces k, else the best silhouette in `k_range`.

    Deterministic for a seed. The chosen k is the best-scoring one whose largest cluster holds
    at most `max_share` of the messages; if none does, the best score wins with a warning.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise DiscoveryError("There are no messages to cluster; import an export with at least "
                             "a few user messages.")
    x = unit_rows(x)
    n = len(x)
    if clusters is not None:
        if clusters < 2:
            raise DiscoveryError(f"You asked for {clusters} clusters; ask for at least 2.")
        if clusters > n:
            raise DiscoveryError(
                f"You asked for {clusters} clusters but only {n} messages remain after removing "
                f"filler and duplicates; ask for at most {n} or import a larger export.")
        if clusters > _distinct(x):
            raise DiscoveryError(
                f"You asked for {clusters} clusters but only {_distinct(x)} of the {n} messages "
                "differ in meaning; ask for fewer clusters or import a larger export.")
        labels = _fit(x, principal_splits(x, clusters)[-1])
        return _result(x, labels, clusters, _silhouette(x, labels, seed, sample_size), {})

    low, high = k_range
    if low < 2 or high < low:
        raise DiscoveryError(f"The cluster range {low}-{high} is invalid; use a range like 3-6 "
                             "(at least 2, low end first).")
    high = min(high, n - 1, _distinct(x))
    if high < low:
        raise DiscoveryError(
            f"Choosing between {low} and {k_range[1]} clusters needs at least {low + 1} distinct "
            f"messages, but only {min(n, _distinct(x))} remain after removing filler and "
            "duplicates; import a larger export or ask for a fixed, smaller number of clusters.")
    fits: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    starts = principal_splits(x, high)
    for k in range(low, high + 1):
        fits[k] = _fit(x, starts[k - 1])
        scores[k] = _silhouette(x, fits[k], seed, sample_size)

    def rank(k: int) -> tuple[float, int]:
        score = scores[k]
        return (-np.inf if np.isnan(score) else score, -k)  # ties go to the smaller k

    passing = [k for k in fits if _largest_share(fits[k]) <= max_share]
    warning = None
    if passing:
        best = max(passing, key=rank)
    else:
        best = max(fits, key=rank)
        warning = (f"Every k from {low} to {high} leaves one cluster with more than "
                   f"{max_share:.0%} of the messages; k={best} has the best silhouette and its "
                   f"largest cluster holds {_largest_share(fits[best]):.0%}. Your messages may be "
                   "mostly about one thing; try more clusters or a larger export.")
    return _result(x, fits[best], best, scores[best], scores, warning)


def project_map(embeddings: np.ndarray, labels: list[str], max_points: int = 3000,
                seed: int = 0) -> dict[str, object]:
    """A 2-D PCA layout of (a sample of) the clustered messages for the Discover page's map.

    Computed here, from the embeddings the clusters came from, so the page never re-embeds.
    """
    total = len(labels)
    chosen = np.arange(total)
    if total > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(total, max_points, replace=False))
    if total < 3:
        coords, explained = np.zeros((len(chosen), 2)), []
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        coords = pca.fit_transform(np.asarray(embeddings)[chosen])
        explained = [round(float(v), 4) for v in pca.explained_variance_ratio_]
    points = [{"x": round(float(x), 5), "y": round(float(y), 5), "cluster": labels[i]}
              for (x, y), i in zip(coords, chosen)]
    return {"points": points, "total": total, "explained_variance": explained}
