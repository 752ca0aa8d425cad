"""What a message is like: its embedding, its sentiment and its traits (`traits.py`).

The router reads all three for every message; discovery reads the traits of every message in
an export and embeds them itself, in bulk. Both speak the one vocabulary of `traits.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..embeddings import Embedder
from .traits import MessageTraits, categorize


@dataclass(frozen=True)
class MessageFeatures:
    embedding: np.ndarray
    sentiment: dict[str, float]
    traits: MessageTraits
    words: int

    def summary(self) -> dict[str, Any]:
        """What is stored with the round and shown in the browser (no embedding)."""
        return {"sentiment": self.sentiment, **asdict(self.traits), "words": self.words}


class FeatureExtractor:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.sentiment = SentimentIntensityAnalyzer()

    def extract(self, text: str) -> MessageFeatures:
        scores = self.sentiment.polarity_scores(text)
        return MessageFeatures(
            embedding=self.embedder.encode([text])[0],
            sentiment={k: float(scores[k]) for k in ("compound", "pos", "neg", "neu")},
            traits=categorize(text), words=len(text.split()))
