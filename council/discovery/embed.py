"""Embedding a user's messages for persona discovery, with an on-disk cache.

An export can hold tens of thousands of messages and a re-import usually adds only a few, so
embeddings are stored keyed by the sha256 of the text: a re-run embeds only what is new.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from council.router.features import Embedder

# Batch size per memory mode: bigger batches are faster but hold more activations at once.
MODE_BATCH_SIZES = {"8GB": 32, "16GB": 64, "32GB": 128}
CACHE_FILE = "embeddings.npz"


def text_key(text: str) -> str:
    """The cache key of a text: its sha256, so the cache never stores the text itself."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _normalise(rows: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero): cosine maths downstream assumes unit rows."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def embedding_cache(data_dir: Path, embedder: Embedder) -> EmbeddingCache:
    """The cache of this embedder's vectors under a discovery data dir (one folder per
    embedder, so vectors from different models never mix)."""
    return EmbeddingCache(data_dir / "cache" / "embeddings" / embedder.name)


class EmbeddingCache:
    """Embeddings on disk keyed by sha256 of the text, so a re-run only embeds new messages."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / CACHE_FILE
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._load()

    def _load(self) -> None:
        """Read the cache if present; an unreadable file is treated as empty, not fatal."""
        if not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys = json.loads(str(data["keys"]))
                vectors = np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError):
            return
        if len(keys) != len(vectors):
            return
        self._keys, self._vectors = list(keys), vectors
        self._index = {key: i for i, key in enumerate(self._keys)}

    def _save(self) -> None:
        """Write to a temp file in the same directory, then os.replace: never a half file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".embeddings-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, keys=np.array(json.dumps(self._keys)), vectors=self._vectors)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def size(self) -> int:
        """How many distinct texts have a stored embedding."""
        return len(self._keys)

    def embed(self, texts: list[str], embedder: Embedder, batch_size: int = 64,
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """len(texts) x dim float32 unit rows in input order; only uncached texts are embedded.

        New texts are embedded shortest first so each batch pads to similar lengths (faster);
        `progress(done, total)` is called after each batch, counting new texts only.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        keys = [text_key(text) for text in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._index and key not in missing:
                missing[key] = text
        if missing:
            order = sorted(missing, key=lambda k: len(missing[k]))
            chunks: list[np.ndarray] = []
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                chunks.append(_normalise(embedder.encode([missing[k] for k in batch])))
                if progress is not None:
                    progress(min(start + batch_size, len(order)), len(order))
            new = np.concatenate(chunks)
            if self._vectors.size and self._vectors.shape[1] != new.shape[1]:
                raise ValueError(
                    f"The embedding cache in {self.directory} holds {self._vectors.shape[1]}-"
                    f"dimensional vectors but the embedder gives {new.shape[1]}; delete the "
                    "cache directory to rebuild it for the new model.")
            base = len(self._keys)
            self._vectors = new if not self._vectors.size else np.vstack([self._vectors, new])
            self._keys.extend(order)
            self._index.update({key: base + i for i, key in enumerate(order)})
            self._save()
        if not keys:
            dim = self._vectors.shape[1] if self._vectors.ndim == 2 else 0
            return np.zeros((0, dim), dtype=np.float32)
        return self._vectors[[self._index[key] for key in keys]].astype(np.float32, copy=True)
