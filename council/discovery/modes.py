"""What k-means clusters: what a message is about and how the user asks, in one balance.

A MiniLM embedding says first what a message is about, so k-means on embeddings alone finds
topic buckets ("Python", "baking"). A persona should be a way of working (debugging, designing,
exploring, a quick fix, learning) that shows across subjects. Within one topic the messages
share the subject, so what separates them is how they are asked: each message minus the mean
of its topic cluster (its *style*) keeps the phrasing and drops the subject. k-means runs on

    row = [sqrt(1 - balance) * topic embedding, sqrt(balance) * style]   (unit rows)

so `balance` 0 clusters on topics alone and 1 on style alone; both halves are unit vectors, so
the balance is each half's share of the squared distance k-means minimises.

Chosen by bench/modes.py on bench/modes_data.py's labelled set (5 modes crossed with 6 topics,
300 messages, the packaged MiniLM; the mean adjusted Rand against the mode labels over five
generated sets, k = 5):

    topic embeddings alone                          -0.01   (against the topics: 0.81)
    these rows at balance 0.5 / 0.6 / 0.7           0.39 / 0.77 / 0.84
                          0.8 / 0.9 / 1             0.84 / 0.85 / 0.86  (against the topics: -0.01)
    at 0.8, the style half + 15% / 30% trait rows   0.86 / 0.86   (30%: the lowest set 0.70)
    at 0.8, style as a residual of 5 PCA axes       0.52

One-hot rows of the rule-based traits (`council.features.traits`) add nothing that holds
across sets, so they stay what names and descriptions are written from, not what is
clustered. From 0.7 up the modes are found about equally well; the default 0.8 leaves a fifth
of the distance to the topic, so one subject's messages still lean together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..embeddings import unit_rows
from .cluster import Clustering, DiscoveryError, centred_on, cluster_embeddings

DEFAULT_BALANCE = 0.8


@dataclass(frozen=True)
class ModeClustering:
    clustering: Clustering  # labels from the mode rows, centroids in topic-embedding space
    rows: np.ndarray  # what k-means saw: the map is drawn from these
    balance: float
    space: ModeSpace | None  # where the rows were taken (None: topic embeddings alone)


@dataclass(frozen=True)
class ModeSpace:
    """Where mode rows are taken: the topic centres a message's style is measured from, and
    the balance. Discovery fits it on the export and records it with the clusters; the router
    takes a question's row in it, so the question meets the clusters where they were found."""

    centres: np.ndarray  # unit-row topics' means, one row per topic cluster
    balance: float

    def record(self) -> dict[str, Any]:
        """As JSON (cluster_analysis.json, a persona's row): enough to take rows again."""
        return {"balance": self.balance, "centres": np.round(self.centres, 6).tolist()}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ModeSpace:
        return cls(np.asarray(record["centres"], dtype=np.float32), float(record["balance"]))

    @classmethod
    def fit(cls, embeddings: np.ndarray, balance: float = DEFAULT_BALANCE,
            k_range: tuple[int, int] = (3, 6)) -> ModeSpace:
        """Topic clusters of the messages (k by silhouette in `k_range`) and their means."""
        _check(balance)
        x = unit_rows(np.asarray(embeddings, dtype=np.float32))
        topics = cluster_embeddings(x, None, k_range)
        return cls(np.stack([x[topics.labels == c].mean(axis=0) for c in range(topics.k)]),
                   balance)

    def style(self, embeddings: np.ndarray) -> np.ndarray:
        """Each message minus its nearest topic centre, as unit rows: how it is asked."""
        x = unit_rows(np.asarray(embeddings, dtype=np.float32))
        distances = ((x[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return unit_rows(x - self.centres[distances.argmin(axis=1)])

    def rows(self, embeddings: np.ndarray) -> np.ndarray:
        """Topic and style side by side, weighted by the balance (0: topic only)."""
        x = unit_rows(np.asarray(embeddings, dtype=np.float32))
        return unit_rows(np.hstack([np.sqrt(1.0 - self.balance) * x,
                                    np.sqrt(self.balance) * self.style(x)]))


def style_rows(embeddings: np.ndarray, k_range: tuple[int, int] = (3, 6)) -> np.ndarray:
    """How each message is asked, measured from the topics of these messages."""
    return ModeSpace.fit(embeddings, 1.0, k_range).style(embeddings)


def mode_space(embeddings: np.ndarray, balance: float = DEFAULT_BALANCE,
               k_range: tuple[int, int] = (3, 6)) -> ModeSpace | None:
    """The space the messages are clustered in; None when that is their topic embeddings
    (balance 0, or too few messages to have topics to remove)."""
    _check(balance)
    if balance == 0.0 or len(embeddings) <= k_range[0]:
        return None
    return ModeSpace.fit(embeddings, balance, k_range)


def mode_rows(embeddings: np.ndarray, balance: float = DEFAULT_BALANCE,
              k_range: tuple[int, int] = (3, 6)) -> np.ndarray:
    """Topic and style side by side, weighted by `balance` (0: topic only, 1: style only)."""
    return _rows(mode_space(embeddings, balance, k_range), embeddings)


def cluster_modes(embeddings: np.ndarray, balance: float = DEFAULT_BALANCE,
                  clusters: int | None = None, k_range: tuple[int, int] = (3, 6),
                  seed: int = 0) -> ModeClustering:
    """k-means on the mode rows; centroids are given back in topic-embedding space, where
    naming's representatives live."""
    space = mode_space(embeddings, balance, k_range)
    rows = _rows(space, embeddings)
    clustering = cluster_embeddings(rows, clusters, k_range, seed)
    return ModeClustering(centred_on(clustering, embeddings), rows, balance, space)


def _rows(space: ModeSpace | None, embeddings: np.ndarray) -> np.ndarray:
    if space is None:
        return unit_rows(np.asarray(embeddings, dtype=np.float32))
    return space.rows(embeddings)


def _check(balance: float) -> None:
    if not 0.0 <= balance <= 1.0:
        raise DiscoveryError(f"The topic/style balance must be between 0 and 1, not {balance}.")
