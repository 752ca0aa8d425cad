"""The learned part of the gate: one online logistic classifier per persona.

Each labelled message is a positive (this persona suited it) or a negative example for one
persona; `SGDClassifier.partial_fit` takes them one at a time, so a vote is a cheap update, and
replaying the stored examples in order rebuilds exactly the same gate after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
from sklearn.linear_model import SGDClassifier

CLASSES = np.array([-1, 1])
SCORE_LIMIT = 3.0


def _new_classifier() -> SGDClassifier:
    # A constant rate lets a single vote move the gate visibly. Averaged SGD was steadier per
    # label but learned less from one pass (bench/router.py: +0.008 vs +0.031 top-1).
    return SGDClassifier(loss="log_loss", alpha=1e-3, learning_rate="constant", eta0=0.5,
                         random_state=0)


class LearnedGate:
    """Votes (request threads) update it while rounds read it; a lock keeps replays whole."""

    def __init__(self) -> None:
        self.classifiers: dict[int, SGDClassifier] = {}
        self.lock = threading.RLock()

    def learn(self, persona_id: int, embedding: np.ndarray, label: int) -> None:
        with self.lock:
            classifier = self.classifiers.setdefault(persona_id, _new_classifier())
            classifier.partial_fit(np.asarray(embedding, dtype=float).reshape(1, -1),
                                   np.array([label]), classes=CLASSES)

    def replay(self, examples: Iterable[tuple[int, list[float], int]]) -> None:
        """Rebuild from stored (persona_id, embedding, label) rows, oldest first."""
        with self.lock:
            self.classifiers.clear()
            for persona_id, embedding, label in examples:
                self.learn(persona_id, np.asarray(embedding), label)

    def score(self, persona_id: int, embedding: np.ndarray) -> float:
        """The classifier's logit for this persona, clipped; 0 when it has learned nothing."""
        with self.lock:
            classifier = self.classifiers.get(persona_id)
            if classifier is None:
                return 0.0
            # decision_function for one binary row, without its per-call validation (~0.2 ms).
            value = float(classifier.coef_[0] @ embedding + classifier.intercept_[0])
        return float(np.clip(value, -SCORE_LIMIT, SCORE_LIMIT))
